// LogLevel: the levels of StageContext::log and of trainflow's logs (spdlog's, without critical).
#pragma once

#include <cstdint>
#include <string_view>

namespace trainflow {

enum class LogLevel : std::uint8_t { kTrace, kDebug, kInfo, kWarn, kError };

// "trace", "debug", "info", "warn", "error".
std::string_view to_string(LogLevel level) noexcept;

}  // namespace trainflow
