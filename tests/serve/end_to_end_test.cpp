// LiveStatus as an observer of real runs (the executor's event delivery), served over HTTP.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "testing/stage_bodies.hpp"
#include "trainflow/core/type_id.hpp"
#include "trainflow/exec/executor.hpp"
#include "trainflow/exec/stage_context.hpp"
#include "trainflow/graph/graph.hpp"
#include "trainflow/observe/live_status.hpp"
#include "trainflow/observe/status_server.hpp"

namespace trainflow::observe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace std::chrono_literals;
using nlohmann::json;

json get_json(std::uint16_t port, const std::string& target) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  stream.expires_after(10s);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result() != http::status::ok) throw std::runtime_error(res.body());
  return json::parse(res.body());
}

class EndToEndTest : public ::testing::TestWithParam<unsigned> {};

TEST_P(EndToEndTest, ServesARunWhileItGoesOnAndAfterItEnded) {
  std::atomic<bool> release{false};
  Graph g{"e2e"};
  const StageId train = g.add_stage(test::stage_spec(
      "train[lr=0.5]", {}, {type_id<int>()}, test::body([&release](StageCall& call) {
        const StageContext& ctx = call.context();
        ctx.report_progress(0.5);
        for (int epoch = 0; epoch < 5; ++epoch) ctx.report_metric("loss", 1.0 / (epoch + 1), epoch);
        // Holds the stage until the test saw it running over HTTP.
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (!release.load() && std::chrono::steady_clock::now() < deadline) {
          std::this_thread::sleep_for(1ms);
        }
        call.set_output(0, Value::make(1));
      })));
  const StageId fail = g.add_stage(
      test::stage_spec("check", {type_id<int>()}, {},
                       test::body([](StageCall&) { throw std::runtime_error("bad"); })));
  const StageId after = g.add_stage(test::stage_spec("after", {}, {}));
  g.connect({train, 0}, {fail, 0});
  g.add_dependency(fail, after);

  auto live = std::make_shared<LiveStatus>(g);
  Result<std::unique_ptr<StatusServer>> server = StatusServer::start(live);
  ASSERT_TRUE(server.has_value()) << server.error().message();
  const std::uint16_t port = (*server)->port();

  Executor executor{{.threads = GetParam()}};
  RunHandle handle = executor.submit(g, {.observers = {live}, .run_id = "e2e-run"});
  json doc;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  do {
    doc = get_json(port, "/api/run");
    if (doc["stages"][0]["metrics"].contains("loss") &&
        doc["stages"][0]["metrics"]["loss"]["reported"] == 5) {
      break;
    }
    std::this_thread::sleep_for(5ms);
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(doc["run"]["status"], "running");
  EXPECT_EQ(doc["run"]["id"], "e2e-run");
  EXPECT_EQ(doc["stages"][0]["status"], "running");
  EXPECT_DOUBLE_EQ(doc["stages"][0]["progress"].get<double>(), 0.5);
  EXPECT_EQ(doc["stages"][0]["threads"], 1);
  EXPECT_EQ(doc["stages"][0]["metrics"]["loss"]["latest"], json::parse("[4, 0.2]"));
  EXPECT_EQ(doc["stages"][1]["status"], "pending");
  release = true;
  const RunReport& report = handle.wait();
  EXPECT_EQ(report.status(), RunStatus::kFailed);

  // kRunFinished is delivered before wait() returns.
  EXPECT_TRUE(live->finished());
  doc = get_json(port, "/api/run");
  EXPECT_EQ(doc["run"]["status"], "failed");
  EXPECT_TRUE(doc["run"]["finished"].get<bool>());
  EXPECT_EQ(doc["stages"][0]["status"], "succeeded");
  EXPECT_EQ(doc["stages"][1]["status"], "failed");
  EXPECT_NE(doc["stages"][1]["error"].get<std::string>().find("bad"), std::string::npos);
  EXPECT_EQ(doc["stages"][2]["status"], "skipped");
  EXPECT_EQ(doc["stages"][0]["metrics"]["loss"]["points"].size(), 5U);
  EXPECT_EQ(doc["counters"]["threads_in_use"], 0);
  const std::optional<StageRecord> record = report.find("train[lr=0.5]");
  ASSERT_TRUE(record.has_value());
  EXPECT_NEAR(doc["stages"][0]["wall_seconds"].get<double>(),
              std::chrono::duration<double>(record->wall).count(), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Workers, EndToEndTest, ::testing::Values(1U, 2U, 4U, 8U));

}  // namespace
}  // namespace trainflow::observe
