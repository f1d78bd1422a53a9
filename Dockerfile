# One image with every perouter binary: controller, labeler, reloader,
# perouterctl. The controller reads BGP state with vtysh through the
# router pod's vty sockets, so the image carries FRR's vtysh.
#
# Not built in this repository's CI (no container engine there); build with
#   docker build -t ghcr.io/perouter/perouter:dev .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ \
      ./cmd/controller ./cmd/labeler ./cmd/reloader ./cmd/perouterctl

FROM debian:trixie-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends frr iproute2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
USER 0
ENTRYPOINT ["/usr/local/bin/controller"]
