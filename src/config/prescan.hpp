// A quick scan of a workflow file's text before the YAML parser sees it: refuses what would make
// the parser (which recurses, and allocates per node) slow or deep — binary data, invalid UTF-8,
// nesting deeper than a limit, far more nodes than a workflow has — and several documents, which
// yaml-cpp's single-document Load would silently ignore. Private to src/config/.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace trainflow::config::detail {

struct ScanLimits {
  std::size_t max_bytes = std::size_t{1} << 20;
  std::size_t max_depth = 64;
  std::size_t max_nodes = 100000;
};

struct ScanError {
  int line = 1;    // 1-based
  int column = 1;  // 1-based, in bytes
  std::string message{};
};

// The first problem found, or std::nullopt. Linear in text.size(); allocates nothing but the
// indentation stack (at most max_depth + 1 entries).
std::optional<ScanError> prescan(std::string_view text, const ScanLimits& limits);

}  // namespace trainflow::config::detail
