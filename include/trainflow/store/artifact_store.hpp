// ArtifactStore: immutable byte strings (serialised stage outputs) stored under the work
// directory by their content digest, verified on every read.
//
// An object's path is built from its digest only — `<root>/<first 2 hex digits>/<other 30>` —
// so no stage name, parameter or user text ever reaches a path. Objects are written with
// write_file_atomically(): a crash leaves either no object or a complete one, never a partial
// one under its final name. Every get() re-hashes what it reads; a mismatch (a flipped bit, a
// truncated file, an edit by hand) is reported as kDataLoss and the object is removed, so the
// caller recomputes and never uses bad bytes.
//
//   Result<ArtifactStore> store = ArtifactStore::open(".trainflow/artifacts");
//   Result<Digest> d = store->put(bytes);
//   Result<std::string> back = store->get(*d);     // verified
//
// Thread-safe: any number of threads and processes may share a store (identical objects written
// concurrently are identical bytes, and rename is atomic). The FileSystem must outlive it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "trainflow/core/hash.hpp"
#include "trainflow/core/status.hpp"
#include "trainflow/store/file_system.hpp"

namespace trainflow {

class ArtifactStore {
 public:
  // The store rooted at `root` (e.g. ".trainflow/artifacts"), created when absent. Fails as
  // FileSystem::create_directories.
  static Result<ArtifactStore> open(std::filesystem::path root,
                                    FileSystem& fs = local_file_system());

  // Stores `bytes` durably and returns their digest. An object already stored under that digest
  // is kept when it verifies and rewritten when it does not. Fails as write_file_atomically()
  // (the message names the step and the path); nothing partial is left under the object's name.
  Result<Digest> put(std::string_view bytes) const;

  // The bytes stored under `digest`. kNotFound when there is no such object; kDataLoss when its
  // bytes do not hash to `digest` (the object is then removed); otherwise FileSystem::read's
  // errors.
  Result<std::string> get(const Digest& digest) const;

  // Whether get(digest) would succeed now (reads and verifies the object).
  bool contains(const Digest& digest) const { return get(digest).has_value(); }
  // Whether an object is stored under `digest`, without reading it (a stat): cheap, but says
  // nothing of its bytes, which get() verifies when they are read.
  bool present(const Digest& digest) const { return fs_->file_size(path_of(digest)).has_value(); }

  // Where the object `digest` lives (whether or not it exists).
  std::filesystem::path path_of(const Digest& digest) const;

  const std::filesystem::path& root() const noexcept { return root_; }

 private:
  ArtifactStore(std::filesystem::path root, FileSystem& fs) : root_(std::move(root)), fs_(&fs) {}

  std::filesystem::path root_;
  FileSystem* fs_;
};

}  // namespace trainflow
