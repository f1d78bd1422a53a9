package reloader

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/perouter/perouter/operator/redact"
)

// DefaultSocket is where the reloader serves and the controller finds it:
// the router pod shares /run/perouter between the two.
const DefaultSocket = "/run/perouter/reloader.sock"

// Client talks to a reloader Server over its unix socket.
type Client struct {
	socketPath string
	http       *http.Client
}

// NewClient returns a client for the server listening on socketPath.
func NewClient(socketPath string) *Client {
	transport := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socketPath)
		},
	}
	return &Client{socketPath: socketPath, http: &http.Client{Transport: transport}}
}

// ReloadError is a reload the server refused or could not complete.
type ReloadError struct {
	StatusCode int
	Result     Result
}

// Error redacts the server's text again (redact.Secrets): a server that
// did not would otherwise put FRR's echo of a password into the
// controller's status, events and logs.
func (e *ReloadError) Error() string {
	msg := e.Result.Error
	if e.Result.RolledBack {
		msg += " (the last good config was restored)"
	}
	return redact.Secrets(fmt.Sprintf("reloader: HTTP %d: %s", e.StatusCode, msg))
}

// Reload sends the full FRR config. The error contains FRR's own text when
// FRR refused the config.
func (c *Client) Reload(ctx context.Context, config string) (Result, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://reloader/reload", strings.NewReader(config))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("reloader at %s: %w", c.socketPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Result{}, fmt.Errorf("reloader at %s: reading response: %w", c.socketPath, err)
	}
	var res Result
	if err := json.Unmarshal(body, &res); err != nil {
		return Result{}, fmt.Errorf("reloader at %s: HTTP %d with a body that is not a result: %q", c.socketPath, resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusOK {
		return res, &ReloadError{StatusCode: resp.StatusCode, Result: res}
	}
	return res, nil
}

// StatusError is a status request the server answered with an error
// (404: a server older than GET /status).
type StatusError struct {
	Socket     string
	StatusCode int
	Body       string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("reloader at %s: status: HTTP %d: %s", e.Socket, e.StatusCode, e.Body)
}

// Status asks which config FRR runs (Server.Status).
func (c *Client) Status(ctx context.Context) (Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://reloader/status", nil)
	if err != nil {
		return Status{}, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return Status{}, fmt.Errorf("reloader at %s: %w", c.socketPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Status{}, fmt.Errorf("reloader at %s: reading the status: %w", c.socketPath, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Status{}, &StatusError{Socket: c.socketPath, StatusCode: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		return Status{}, fmt.Errorf("reloader at %s: status: HTTP 200 with a body that is not a status: %q", c.socketPath, body)
	}
	return st, nil
}

// Healthy returns nil when the server reports every FRR daemon answering,
// else the server's reason.
func (c *Client) Healthy(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://reloader/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("reloader at %s: %w", c.socketPath, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reloader at %s: unhealthy (HTTP %d): %s", c.socketPath, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

// Metrics returns the Prometheus text exposition served on the socket.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://reloader/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("reloader at %s: %w", c.socketPath, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("reloader at %s: metrics: HTTP %d", c.socketPath, resp.StatusCode)
	}
	return string(body), nil
}
