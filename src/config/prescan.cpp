#include "config/prescan.hpp"

#include <cstdio>
#include <vector>

namespace trainflow::config::detail {
namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// A quote or flow bracket starts a token only after a blank, an opening bracket, a comma or a
// colon (or at the start of a line): "it's" and "x[1]" are plain scalars.
bool starts_token(std::string_view line, std::size_t j) {
  if (j == 0) return true;
  const char prev = line[j - 1];
  return is_blank(prev) || prev == '[' || prev == '{' || prev == ',' || prev == ':';
}

// Length of the UTF-8 sequence at text[i], or 0 when it is not valid UTF-8.
std::size_t utf8_length(std::string_view text, std::size_t i) {
  const auto c = static_cast<unsigned char>(text[i]);
  std::size_t len = 0;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
  } else {
    return 0;
  }
  if (i + len > text.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto d = static_cast<unsigned char>(text[i + k]);
    if (d < 0x80 || d > 0xBF) return 0;
  }
  return len;
}

std::optional<ScanError> check_bytes(std::string_view text) {
  int line = 1;
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      ++line;
      line_start = ++i;
      continue;
    }
    std::size_t len = 1;
    if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7F) {
      len = 0;
    } else if (c >= 0x80) {
      len = utf8_length(text, i);
    }
    if (len == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      return ScanError{line, static_cast<int>(i - line_start + 1),
                       std::string("binary data (byte ") + hex +
                           "): a workflow file is YAML in UTF-8 text; check that this is the "
                           "right file"};
    }
    i += len;
  }
  return std::nullopt;
}

}  // namespace

std::optional<ScanError> prescan(std::string_view text, const ScanLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return ScanError{1, 1,
                     "the file is " + std::to_string(text.size()) + " bytes, more than the " +
                         std::to_string(limits.max_bytes) +
                         " a workflow file may have (LoadOptions::max_file_bytes); a workflow "
                         "file names stages, it does not hold data"};
  }
  if (std::optional<ScanError> error = check_bytes(text)) return error;

  std::vector<std::size_t> indents;  // the open block indentation levels
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t block_scalar_indent = kNone;  // inside a block scalar: its header's indentation
  std::size_t flow = 0;
  char quote = 0;
  bool seen_content = false;
  bool ended = false;
  bool seen_marker = false;
  std::size_t nodes = 0;
  int line_no = 0;
  const auto too_deep = [&](std::size_t column) {
    return ScanError{line_no, static_cast<int>(column + 1),
                     "nesting deeper than " + std::to_string(limits.max_depth) +
                         " levels (LoadOptions::max_depth); a workflow needs about 8"};
  };
  const auto too_many_nodes = [&] {
    return ScanError{line_no, 1,
                     "more than " + std::to_string(limits.max_nodes) +
                         " YAML nodes (LoadOptions::max_nodes); a workflow has a few hundred"};
  };

  for (std::size_t start = 0; start <= text.size();) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    start = end + 1;
    ++line_no;

    std::size_t pos = 0;
    std::size_t depth_base = indents.size();
    if (quote == 0 && flow == 0) {
      std::size_t indent = 0;
      while (indent < line.size() && line[indent] == ' ') ++indent;
      const bool blank = indent == line.size() || line[indent] == '#' ||
                         (line[indent] == '\t' && line.find_first_not_of(" \t") == line.npos);
      if (block_scalar_indent != kNone) {
        if (blank || indent > block_scalar_indent) continue;
        block_scalar_indent = kNone;
      }
      const bool marker_line = line.size() >= 3 && (line.size() == 3 || is_blank(line[3]));
      if (marker_line && line.substr(0, 3) == "---") {
        if (seen_content || seen_marker || ended) {
          return ScanError{line_no, 1,
                           "a second YAML document starts here ('---'); a workflow file holds "
                           "one document: split it into several files"};
        }
        seen_marker = true;
        pos = 3;
        indents.clear();
      } else if (marker_line && line.substr(0, 3) == "...") {
        ended = true;
        continue;
      } else if (!seen_content && !seen_marker && !line.empty() && line[0] == '%') {
        continue;  // a directive
      } else {
        if (blank) continue;
        while (!indents.empty() && indents.back() > indent) indents.pop_back();
        if (indents.empty() || indents.back() < indent) indents.push_back(indent);
        pos = indent;
        std::size_t compact = 0;  // "- - x" and "? x" open a level each on one line
        while (pos < line.size() && (line[pos] == '-' || line[pos] == '?') &&
               (pos + 1 == line.size() || is_blank(line[pos + 1]))) {
          ++compact;
          pos += 1;
          while (pos < line.size() && is_blank(line[pos])) ++pos;
        }
        depth_base = indents.size() + compact;
        nodes += 1 + compact;
        if (depth_base > limits.max_depth) return too_deep(pos);
      }
      if (pos < line.size() && line.find_first_not_of(" \t", pos) != line.npos &&
          line[line.find_first_not_of(" \t", pos)] != '#') {
        if (ended) {
          return ScanError{line_no, 1,
                           "content after the document end marker '...'; a workflow file holds "
                           "one document"};
        }
        seen_content = true;
      }
    }

    std::size_t content_end = pos;
    for (std::size_t j = pos; j < line.size(); ++j) {
      const char c = line[j];
      if (quote == '"') {
        if (c == '\\') {
          ++j;
        } else if (c == '"') {
          quote = 0;
        }
        content_end = j + 1;
        continue;
      }
      if (quote == '\'') {
        if (c == '\'') {
          if (j + 1 < line.size() && line[j + 1] == '\'') {
            ++j;
          } else {
            quote = 0;
          }
        }
        content_end = j + 1;
        continue;
      }
      if (c == '#' && (j == 0 || is_blank(line[j - 1]))) break;
      if (!is_blank(c)) content_end = j + 1;
      if ((c == '"' || c == '\'') && starts_token(line, j)) {
        quote = c;
      } else if ((c == '[' || c == '{') && (flow > 0 || starts_token(line, j))) {
        ++flow;
        ++nodes;
        if (depth_base + flow > limits.max_depth) return too_deep(j);
      } else if ((c == ']' || c == '}') && flow > 0) {
        --flow;
      } else if (c == ',' && flow > 0) {
        ++nodes;
      } else if (c == ':' && (flow > 0 || j + 1 == line.size() || is_blank(line[j + 1]))) {
        ++nodes;
      }
    }
    if (nodes > limits.max_nodes) return too_many_nodes();
    // A block scalar header ("key: |", "- >-"): its content lines are text, not structure.
    if (quote == 0 && flow == 0 && content_end > 0) {
      std::size_t k = content_end;
      while (k > pos && (line[k - 1] == '+' || line[k - 1] == '-' ||
                         (line[k - 1] >= '0' && line[k - 1] <= '9'))) {
        --k;
      }
      if (k > 0 && (line[k - 1] == '|' || line[k - 1] == '>') && content_end - k <= 2 &&
          (k == 1 || is_blank(line[k - 2]))) {
        std::size_t indent = 0;
        while (indent < line.size() && line[indent] == ' ') ++indent;
        block_scalar_indent = indent;
      }
    }
  }
  return std::nullopt;
}

}  // namespace trainflow::config::detail
