// Small filesystem helpers the daemon's parts share.
#pragma once

#include <sys/types.h>

#include <string>

namespace tgs::controller {

// mkdir -p; the last component gets `mode`, parents 0755. False with
// `*error` when a component cannot be created or the path is not a directory.
bool MakeDirs(const std::string& path, mode_t mode, std::string* error);

// "/a/b" for "/a/b/c"; "/" for "/c".
std::string ParentDir(const std::string& path);

// Writes `text` to `path` through a temporary file and a rename, so a crash
// leaves the old file or the new one, never half of one.
bool WriteFileAtomically(const std::string& path, const std::string& text, std::string* error);

}  // namespace tgs::controller
