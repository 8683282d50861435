// IDX ingestion: reads a pair of IDX files (the format of MNIST and Fashion-MNIST: one file of
// items, e.g. images, and one of their labels) into a Dataset of float32 feature columns and a
// categorical target.
//
//   Result<Dataset> test = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
//                                   "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
//   if (!test) std::cerr << test.error().message();
//   // 10000 rows: "px0" .. "px783" in [0, 1], then the target "label" with categories "0".."9"
//
// The IDX format: a 4-byte magic (two zero bytes, an element type code, the number of dimensions
// D >= 1), D big-endian uint32 dimension sizes, then the elements, big-endian, row-major. The
// first dimension counts the items; each item has the product of the other dimensions as its
// feature count (1 when D == 1). Element types: 0x08 unsigned byte, 0x09 signed byte, 0x0B
// int16, 0x0C int32, 0x0D float32, 0x0E float64. A file may be plain or gzip-compressed (detected
// by its first two bytes, 1f 8b; several concatenated gzip members are read as one stream, as
// gzip -d does).
//
// read_idx is pure and thread-safe; it uses no threads of its own.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "trainflow/core/status.hpp"
#include "trainflow/ml/dataset.hpp"

namespace trainflow::ml {

struct IdxOptions {
  // Every element of the items file is multiplied by this (finite) factor, in double, then
  // rounded to float. Default 1/255, which maps unsigned-byte pixels onto [0, 1]; use 1.0 to keep
  // the raw values.
  double scale = 1.0 / 255;
  // Feature column j is called feature_prefix + std::to_string(j). Default "px"; not empty.
  std::string feature_prefix = "px";
  // The name of the target column. Default "label"; not empty, and not a feature column's name.
  std::string target = "label";
  // Category names of the labels: label value v is called class_names[v], the dictionary is
  // class_names in order (so a category's code is its label value, and names that no row uses
  // are still categories). Default empty: the categories are the decimal forms of the distinct
  // label values that occur, in increasing order of value ("0", "1", ..., "9" for MNIST; a
  // category's code equals its label value exactly when the labels that occur are 0 .. K-1).
  // When given, the names must be distinct and cover every label (more than the largest label).
  std::vector<std::string> class_names{};
  // Read only the first max_rows items and labels (the rest of both files is not read, so it is
  // not checked either). Default 0: all of them.
  std::size_t max_rows = 0;
};

// Reads `images` (the items; any element type) and `labels` (one dimension; any element type
// whose values are integers in [0, 2^31)) into a dataset of one float32 column per feature,
// values element * options.scale, followed by the categorical target column options.target. Row
// i is item i. The result is not a view.
//
// Memory: the result (4 bytes per element) plus O(1 MiB) of buffers. Storage grows as data
// arrives and never beyond what the header declares, so a header that declares more than the
// file holds costs at most a small multiple of the file's real (decompressed) size.
//
// Fails with kNotFound when a file does not exist, kFailedPrecondition when it cannot be opened
// (permissions), kUnavailable on another read error (each naming the path and the OS error), and
// kInvalidArgument naming the file, the byte offset (in the decompressed data for a gzip file)
// and what is wrong: a bad option (scale not finite, an empty prefix or target, repeated class
// names); a bad magic or unknown element type code; no dimensions, a zero item or feature count
// (an IDX file with no items gives no dataset), or a size that overflows; a labels file with more
// than one dimension; item counts that differ between the two files; data that ends before the
// declared size (truncated) or bytes after it (trailing data); corrupt or truncated gzip data; a
// label that is not an integer in [0, 2^31), or one that class_names does not cover.
Result<Dataset> read_idx(const std::filesystem::path& images, const std::filesystem::path& labels,
                         const IdxOptions& options = {});

}  // namespace trainflow::ml
