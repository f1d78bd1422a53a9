# Generated from images.Recipes() (images/recipe.go) by
#   go run ./cmd/imagebuild -write-dockerfiles
# Do not edit: `make images` builds the same image without a container
# engine, and images.TestDockerfilesMatchRecipes keeps this file equal
# to the recipe. See docs/images.md.
#
#   docker build -f Dockerfile -t ghcr.io/perouter/perouter:dev .
FROM golang:1.26-trixie AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/ ./cmd/controller ./cmd/labeler ./cmd/reloader ./cmd/perouterctl

FROM debian:forky-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates containernetworking-plugins frr=10.7.1-6 iproute2 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/controller /usr/local/bin/controller
COPY --from=build /out/labeler /usr/local/bin/labeler
COPY --from=build /out/reloader /usr/local/bin/reloader
COPY --from=build /out/perouterctl /usr/local/bin/perouterctl
ARG VERSION=dev
LABEL org.opencontainers.image.description="perouter controller, labeler, reloader and perouterctl; the controller reads BGP state with FRR's vtysh"
LABEL org.opencontainers.image.source="https://github.com/perouter/perouter"
LABEL org.opencontainers.image.title="perouter"
LABEL org.opencontainers.image.version="$VERSION"
USER 0
ENTRYPOINT ["/usr/local/bin/controller"]
