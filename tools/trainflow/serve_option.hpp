// `--serve`, `--serve-token` and `--serve-linger`: the live status of `trainflow run` and
// `trainflow resume` over HTTP (observe/status_server.hpp; docs/serve.md).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "trainflow/core/status.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/observe/live_status.hpp"
#include "trainflow/observe/status_server.hpp"

namespace trainflow::cli {

// Where `--serve` without a value listens: loopback, on a fixed port so that a bookmark or a
// Prometheus scrape configuration keeps working from run to run.
inline constexpr const char* kDefaultServeAddress = "127.0.0.1:8470";

struct ServeSettings {
  // --serve[=ADDR:PORT]: empty when not given; kDefaultServeAddress for a bare --serve.
  std::string address{};
  // --serve-token TOKEN, or the environment variable TRAINFLOW_SERVE_TOKEN. Required for an
  // address that is not loopback.
  std::string token{};
  // --serve-linger SECONDS: keep serving this long after the run ended (SIGINT or SIGTERM stops
  // earlier). Default 0: the server stops with the run.
  double linger_seconds = 0;
};

void add_serve_options(CLI::App* cmd, ServeSettings& settings);

// A server of one run's live status, started before the run; stops when destroyed.
struct ServeSession {
  std::shared_ptr<observe::LiveStatus> status;  // add it to the run's observers
  std::unique_ptr<observe::StatusServer> server;
  double linger_seconds = 0;

  // Waits linger_seconds (after telling so on stderr), or until SIGINT or SIGTERM arrives.
  // REQUIRES: those signals are blocked in this thread (block_interrupt_signals()).
  void linger() const;
};

// "ADDR:PORT", "[V6]:PORT", "ADDR" (port 8470), ":PORT" or "PORT" (127.0.0.1) -> the server's
// address and port, or kInvalidArgument naming the text.
Result<observe::ServeOptions> parse_serve_address(const std::string& text);

// Null when settings.address is empty (no --serve); else a started server for a run of `graph`
// whose URL has been printed to stderr, or why it could not start (a bad address, no token for
// a non-loopback address, the port in use).
Result<std::unique_ptr<ServeSession>> start_serve(const ServeSettings& settings,
                                                  const Graph& graph);

}  // namespace trainflow::cli
