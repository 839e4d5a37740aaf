#include "shim/core/config.h"

#include "shim/core/container_identity.h"
#include "shim/util/env.h"
#include "shim/util/log.h"

namespace tgs {

ShimConfig LoadShimConfig() {
  ShimConfig config;
  auto record = [&config](const std::string& error) {
    if (config.error.empty() && !error.empty()) config.error = error;
  };

  record(TgsLogError());
  EnvSize limit = EnvByteSize("TGS_MEMORY_LIMIT");
  record(limit.error);
  if (limit.value) {
    if (*limit.value == 0) {
      record("TGS_MEMORY_LIMIT='" + EnvString("TGS_MEMORY_LIMIT").value_or("") +
             "': a limit of 0 bytes would refuse every allocation; unset the variable for no limit");
    } else {
      config.memory_limit_bytes = *limit.value;
    }
  }

  if (auto dir = EnvString("TGS_STATE_DIR")) {
    if ((*dir)[0] != '/') {
      record("TGS_STATE_DIR='" + *dir + "': must be an absolute path");
    } else {
      config.state_dir = *dir;
    }
  }
  if (auto socket = EnvString("TGS_CONTROLLER_SOCKET")) {
    if ((*socket)[0] != '/' || socket->size() > 107) {
      record("TGS_CONTROLLER_SOCKET='" + *socket + "': must be an absolute path of at most 107 bytes");
    } else {
      config.controller_socket = *socket;
    }
  }
  config.real_libcuda = EnvString("TGS_REAL_LIBCUDA").value_or("");
  config.real_libnvml = EnvString("TGS_REAL_LIBNVML").value_or("");

  if (auto id = EnvString("TGS_CONTAINER_ID")) {
    std::string why = ValidateContainerId(*id);
    if (!why.empty()) {
      record("TGS_CONTAINER_ID='" + *id + "': " + why);
    } else {
      config.container_id = *id;
    }
  } else {
    std::string why;
    config.container_id = ContainerIdFromCgroup(&why);
    if (config.container_id.empty()) record("cannot identify the container: " + why + "; set TGS_CONTAINER_ID");
  }
  return config;
}

}  // namespace tgs
