#include "container/device-plugin/host_files.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "shim/driver/ld_cache.h"

namespace tgs::device_plugin {
namespace {

constexpr const char* kShimIdentity = "tgs_shim_identity";

bool RegularFile(const std::string& path, std::string* why) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (why) *why = std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    if (why) *why = "not a regular file";
    return false;
  }
  return true;
}

// Where the loader would look for `soname`, in its order, without duplicates.
std::vector<std::string> LoaderCandidates(const std::string& soname) {
  std::vector<std::string> paths;
  auto add = [&](std::string path) {
    for (const std::string& p : paths) {
      if (p == path) return;
    }
    paths.push_back(std::move(path));
  };
  if (const char* env = std::getenv("LD_LIBRARY_PATH")) {
    std::string all(env);
    size_t pos = 0;
    while (pos <= all.size()) {
      size_t end = all.find(':', pos);
      if (end == std::string::npos) end = all.size();
      if (end > pos) add(all.substr(pos, end - pos) + "/" + soname);
      pos = end + 1;
    }
  }
  for (std::string& p : LdCacheLookup("/etc/ld.so.cache", soname)) add(std::move(p));
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                          "/lib/x86_64-linux-gnu", "/lib64", "/usr/local/nvidia/lib64", "/usr/local/nvidia/lib"}) {
    add(std::string(dir) + "/" + soname);
  }
  return paths;
}

}  // namespace

bool CheckShimDir(const std::string& dir, std::string* error) {
  for (const char* name : kShimFiles) {
    std::string why;
    if (!RegularFile(dir + "/" + name, &why)) {
      *error = "--shim-dir '" + dir + "' has no usable " + name + " (" + why +
               "); it must hold libtgs.so, libtgs-nvml.so and ld.so.preload";
      return false;
    }
  }
  return true;
}

std::optional<bool> DefinesDynamicSymbol(const std::string& path, const std::string& name, std::string* error) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) {
    close(fd);
    *error = path + ": too small to be an ELF object";
    return std::nullopt;
  }
  size_t size = static_cast<size_t>(st.st_size);
  void* map = mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  const auto* base = static_cast<const unsigned char*>(map);
  auto fits = [&](uint64_t offset, uint64_t length) { return offset <= size && length <= size - offset; };
  std::optional<bool> result;
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(base);
  if (std::memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64) {
    *error = path + ": not a 64-bit ELF object";
  } else if (eh->e_shentsize != sizeof(Elf64_Shdr) || !fits(eh->e_shoff, uint64_t{eh->e_shnum} * sizeof(Elf64_Shdr))) {
    *error = path + ": unreadable section headers";
  } else {
    const auto* sections = reinterpret_cast<const Elf64_Shdr*>(base + eh->e_shoff);
    for (unsigned i = 0; i < eh->e_shnum && !result; ++i) {
      const Elf64_Shdr& symtab = sections[i];
      if (symtab.sh_type != SHT_DYNSYM) continue;
      if (symtab.sh_link >= eh->e_shnum || symtab.sh_entsize != sizeof(Elf64_Sym) ||
          !fits(symtab.sh_offset, symtab.sh_size)) {
        break;
      }
      const Elf64_Shdr& strtab = sections[symtab.sh_link];
      if (!fits(strtab.sh_offset, strtab.sh_size)) break;
      const char* strings = reinterpret_cast<const char*>(base + strtab.sh_offset);
      const auto* symbols = reinterpret_cast<const Elf64_Sym*>(base + symtab.sh_offset);
      result = false;
      for (uint64_t s = 0; s < symtab.sh_size / sizeof(Elf64_Sym); ++s) {
        const Elf64_Sym& sym = symbols[s];
        if (sym.st_shndx == SHN_UNDEF || sym.st_name >= strtab.sh_size) continue;
        const char* text = strings + sym.st_name;
        size_t room = strtab.sh_size - sym.st_name;
        if (strnlen(text, room) == name.size() && std::memcmp(text, name.data(), name.size()) == 0) {
          result = true;
          break;
        }
      }
    }
    if (!result) *error = path + ": no readable dynamic symbol table";
  }
  munmap(map, size);
  return result;
}

std::vector<std::string> FindDriverLibraries(std::vector<std::string>* notes) {
  std::vector<std::string> found;
  for (const std::string& soname : {std::string("libcuda.so.1"), std::string("libnvidia-ml.so.1")}) {
    std::string chosen;
    for (const std::string& path : LoaderCandidates(soname)) {
      if (!RegularFile(path, nullptr)) continue;
      std::string error;
      std::optional<bool> shim = DefinesDynamicSymbol(path, kShimIdentity, &error);
      if (!shim) {
        notes->push_back("skipped " + error);
        continue;
      }
      if (*shim) {
        notes->push_back("skipped " + path + ": a TGS shim, not the driver");
        continue;
      }
      chosen = path;
      break;
    }
    if (chosen.empty()) {
      notes->push_back("no " + soname + " found: containers get none from the plugin (pass --driver-lib, or let "
                       "the NVIDIA container toolkit inject the driver)");
    } else {
      found.push_back(chosen);
    }
  }
  return found;
}

bool CheckDriverLibraries(const std::vector<std::string>& paths, std::string* error) {
  for (const std::string& path : paths) {
    std::string why;
    if (!RegularFile(path, &why)) {
      *error = "--driver-lib '" + path + "': " + why;
      return false;
    }
    std::optional<bool> shim = DefinesDynamicSymbol(path, kShimIdentity, &why);
    if (!shim) {
      *error = "--driver-lib '" + path + "': " + why;
      return false;
    }
    if (*shim) {
      *error = "--driver-lib '" + path + "' is a TGS shim, not the driver";
      return false;
    }
  }
  return true;
}

std::vector<DeviceNode> GpuDeviceNodes(const std::string& dev_root, unsigned minor) {
  std::vector<DeviceNode> nodes;
  for (const std::string& name :
       {std::string("nvidiactl"), std::string("nvidia-uvm"), std::string("nvidia-uvm-tools"),
        "nvidia" + std::to_string(minor)}) {
    std::string host = dev_root + "/" + name;
    struct stat st;
    if (stat(host.c_str(), &st) == 0) nodes.push_back({"/dev/" + name, host});
  }
  return nodes;
}

}  // namespace tgs::device_plugin
