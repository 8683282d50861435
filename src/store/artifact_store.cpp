#include "trainflow/store/artifact_store.hpp"

#include <utility>

namespace trainflow {

Result<ArtifactStore> ArtifactStore::open(std::filesystem::path root, FileSystem& fs) {
  if (Status s = fs.create_directories(root); !s.ok()) return s;
  return ArtifactStore(std::move(root), fs);
}

std::filesystem::path ArtifactStore::path_of(const Digest& digest) const {
  const std::string hex = digest.hex();
  return root_ / hex.substr(0, 2) / hex.substr(2);
}

Result<Digest> ArtifactStore::put(std::string_view bytes) const {
  const Digest d = digest(bytes);
  if (contains(d)) return d;  // content-addressed: the same bytes are already there
  const std::filesystem::path path = path_of(d);
  if (Status s = fs_->create_directories(path.parent_path()); !s.ok()) return s;
  if (Status s = write_file_atomically(*fs_, path, bytes); !s.ok()) {
    return Status(s.code(), "storing artifact " + d.hex() + ": " + s.message());
  }
  return d;
}

Result<std::string> ArtifactStore::get(const Digest& d) const {
  const std::filesystem::path path = path_of(d);
  Result<std::string> bytes = fs_->read(path);
  if (!bytes) return std::move(bytes).error();
  if (digest(*bytes) != d) {
    (void)fs_->remove(path);  // never served again; the next put rewrites it
    return data_loss("artifact " + d.hex() + " at " + path.string() + " is corrupt (its " +
                     std::to_string(bytes->size()) +
                     " bytes do not match its digest); it was removed and will be recomputed");
  }
  return bytes;
}

}  // namespace trainflow
