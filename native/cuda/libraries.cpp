#include "cuda/libraries.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>

namespace cgru::cuda {
namespace {

CudnnApi gCudnn;
CublasApi gCublas;

bool isDirectory(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0;
}
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}
std::string join(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

// The site-packages folders of the first python3 on PATH, asked once. A missing or broken
// python3 gives an empty list; `timeout` keeps a hung interpreter from hanging us.
const std::vector<std::string>& pythonSitePackages() {
  static const std::vector<std::string> sites = [] {
    std::vector<std::string> out;
    // Single-quoted for the shell, so the script itself uses only double quotes.
    const std::string script =
        "import site,sys\n"
        "s=list(getattr(site,\"getsitepackages\",lambda:[])())\n"
        "try:\n s.append(site.getusersitepackages())\nexcept Exception:\n pass\n"
        "s+=[p for p in sys.path if p.endswith((\"site-packages\",\"dist-packages\"))]\n"
        "print(\"\\n\".join(s))\n";
    const std::string run = "python3 -c '" + script + "'";
    const std::string cmd = "exec 2>/dev/null </dev/null; command -v python3 >/dev/null || exit 0; "
                            "if command -v timeout >/dev/null; then exec timeout 10 " + run + "; else exec " + run + "; fi";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    if (!pipe) return out;
    std::string text;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0 && text.size() < (1u << 20)) text.append(buf, n);
    ::pclose(pipe);  // its status is not needed (and may be ECHILD when the host reaps children)
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (!line.empty() && isDirectory(line)) {
        bool seen = false;
        for (const auto& s : out) seen = seen || s == line;
        if (!seen) out.push_back(line);
      }
      start = end + 1;
    }
    return out;
  }();
  return sites;
}

// Places to look, in order: a folder ("" means the loader's default search), or an exact file.
struct Place {
  std::string dir;
  std::string file;  // set when the environment variable names a file
};

// Calls `visit` on each place in order until it returns true; python3 is asked for its
// site-packages only when the earlier places did not have the library.
bool forEachPlace(const char* envVar, const std::vector<std::string>& wheelSubdirs,
                  const std::function<bool(const Place&)>& visit) {
  std::vector<Place> fixed;
  const std::string explicitPath = env(envVar);
  if (!explicitPath.empty()) {
    if (isDirectory(explicitPath))
      fixed.push_back({explicitPath, ""});
    else
      fixed.push_back({"", explicitPath});
  }
  fixed.push_back({"", ""});  // the loader's default path (LD_LIBRARY_PATH, ldconfig cache, RUNPATH)
  fixed.push_back({"/usr/local/cuda/lib64", ""});
  const std::string cudaHome = env("CUDA_HOME");
  if (!cudaHome.empty() && join(cudaHome, "lib64") != "/usr/local/cuda/lib64") fixed.push_back({join(cudaHome, "lib64"), ""});
  for (const auto& place : fixed)
    if (visit(place)) return true;
  for (const auto& site : pythonSitePackages())
    for (const auto& sub : wheelSubdirs)
      if (visit(Place{join(site, sub), ""})) return true;
  return false;
}

class Searcher {
 public:
  Searcher(LoadResult& result, const char* what) : result_(result), what_(what) {}

  // Tries `path` (a plain soname goes to the loader's own search). Returns the handle or null.
  void* tryOpen(const std::string& path, bool plainSoname) {
    result_.searchedPaths.push_back(path);
    ++tried_;
    if (!plainSoname && !exists(path)) return nullptr;
    ::dlerror();
    void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    // A rejected library stays loaded, and a later plain soname resolves to it again: skip it.
    for (void* r : rejectedHandles_)
      if (h == r) return nullptr;
    if (!h) {
      const char* e = ::dlerror();
      const std::string msg = e ? e : "unknown dlopen error";
      // A plain soname that is simply absent is the normal case; anything else is worth telling.
      if (!plainSoname || msg.find("No such file") == std::string::npos) failures_.push_back(msg);
    }
    return h;
  }
  void rejected(void* handle, const std::string& path, const std::string& why) {
    rejectedHandles_.push_back(handle);
    failures_.push_back(path + ": " + why);
  }

  std::string notFound(const std::string& sonames, const char* envVar) const {
    std::string msg = what_ + " not found: no loadable " + sonames + " in " + std::to_string(tried_) +
                      " paths tried (see searchedPaths)";
    const std::string explicitPath = env(envVar);
    if (!explicitPath.empty() && !exists(explicitPath)) msg += "; " + std::string(envVar) + "=" + explicitPath + " does not exist";
    for (const auto& f : failures_) msg += "; " + f;
    if (explicitPath.empty()) msg += "; set " + std::string(envVar) + " to its file or folder";
    return msg;
  }

 private:
  LoadResult& result_;
  std::string what_;
  std::vector<std::string> failures_;
  std::vector<void*> rejectedHandles_;
  size_t tried_ = 0;
};

std::string pathOf(void* symbol, const std::string& fallback) {
  Dl_info info{};
  if (symbol && ::dladdr(symbol, &info) != 0 && info.dli_fname && info.dli_fname[0]) return info.dli_fname;
  return fallback;
}

// Resolves every symbol of the table; returns the first missing name or "".
template <typename Api>
std::string resolve(void* handle, Api& api);

template <>
std::string resolve<CudnnApi>(void* handle, CudnnApi& api) {
#define CGRU_RESOLVE(name)                                                  \
  api.name = reinterpret_cast<decltype(api.name)>(::dlsym(handle, #name)); \
  if (!api.name) return #name;
  CGRU_CUDNN_FUNCTIONS(CGRU_RESOLVE)
  return "";
}

template <>
std::string resolve<CublasApi>(void* handle, CublasApi& api) {
  CGRU_CUBLAS_FUNCTIONS(CGRU_RESOLVE)
#undef CGRU_RESOLVE
  return "";
}

void loadCublas(LoadResult& r) {
  Searcher s(r, "cuBLAS");
  // The major cuDNN needs anywhere over another major anywhere (see libraries.h).
  const std::string preferred = r.cudnnCudaMajor == 12 ? "12" : "13";
  for (const std::string& major : {preferred, std::string(preferred == "13" ? "12" : "13")}) {
    const std::string soname = "libcublas.so." + major;
    const std::string ltSoname = "libcublasLt.so." + major;
    const bool found = forEachPlace("CUDNN_GRU_CUBLAS_PATH", {"nvidia/cu13/lib", "nvidia/cublas/lib"}, [&](const Place& place) {
      if (!place.file.empty() && major != preferred) return false;  // an explicit file is tried once
      const std::string path = !place.file.empty() ? place.file : join(place.dir, soname);
      const bool plain = place.file.empty() && place.dir.empty();
      // libcublas needs libcublasLt of the same folder; load it first so the pair matches.
      if (!plain && place.file.empty() && exists(join(place.dir, ltSoname))) s.tryOpen(join(place.dir, ltSoname), false);
      void* h = s.tryOpen(path, plain);
      if (!h) return false;
      CublasApi api;
      const std::string missing = resolve(h, api);
      if (!missing.empty()) {
        s.rejected(h, pathOf(::dlsym(h, "cublasCreate_v2"), path), "lacks the symbol " + missing);
        return false;  // the handle is kept: unloading a half-used library is riskier than a leak
      }
      gCublas = api;
      r.cublas.handle = h;
      r.cublas.path = pathOf(reinterpret_cast<void*>(api.cublasCreate_v2), path);
      return true;
    });
    if (found) return;
  }
  r.cublas.error = s.notFound("libcublas.so.13 or libcublas.so.12", "CUDNN_GRU_CUBLAS_PATH");
}

void loadCudnn(LoadResult& r) {
  Searcher s(r, "cuDNN 9");
  const std::string soname = "libcudnn.so.9";
  const bool found = forEachPlace("CUDNN_GRU_CUDNN_PATH", {"nvidia/cudnn/lib"}, [&](const Place& place) {
    const std::string path = !place.file.empty() ? place.file : join(place.dir, soname);
    const bool plain = place.file.empty() && place.dir.empty();
    void* h = s.tryOpen(path, plain);
    if (!h) return false;
    CudnnApi api;
    const std::string missing = resolve(h, api);
    const std::string where = pathOf(::dlsym(h, "cudnnGetVersion"), path);
    if (!missing.empty()) {
      s.rejected(h, where, "lacks the symbol " + missing + " (cuDNN 9 is required)");
      return false;
    }
    // The shim dlopens its sub-libraries (through its RPATH=$ORIGIN) on first use, and when
    // libcudnn_graph cannot be loaded it prints "Invalid handle. Cannot load symbol ..." and
    // aborts the process, even in cudnnGetVersion. Load the ones the GRU needs here first, from
    // the shim's own folder, so that a broken install (a missing sub-library, or libz.so.1) is a
    // reason and not a crash; the shim's own dlopen then finds these copies by soname.
    const size_t slash = where.find_last_of('/');
    const std::string dir = slash == std::string::npos ? std::string() : where.substr(0, slash);
    for (const char* sub : {"libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_adv.so.9"}) {
      ::dlerror();
      if (!::dlopen(join(dir, sub).c_str(), RTLD_NOW | RTLD_LOCAL)) {
        const char* e = ::dlerror();
        std::string why = std::string("its sub-library ") + sub + " cannot be loaded: " + (e ? e : "unknown dlopen error");
        if (why.find("libz.so") != std::string::npos) why += " (cuDNN needs zlib: install zlib1g / zlib)";
        s.rejected(h, where, why);
        return false;  // the handle is kept, as above
      }
    }
    const size_t version = api.cudnnGetVersion();
    if (version < 90000 || version >= 100000) {
      s.rejected(h, where, "is cuDNN " + std::to_string(version) + ", but cuDNN 9 is required");
      return false;
    }
    gCudnn = api;
    r.cudnn.handle = h;
    r.cudnn.path = where;
    r.cudnnCudaMajor = static_cast<int>(api.cudnnGetCudartVersion() / 1000);  // 13030 -> 13
    return true;
  });
  if (found) return;
  r.cudnn.error = s.notFound(soname, "CUDNN_GRU_CUDNN_PATH");
}

}  // namespace

const LoadResult& loadLibraries() {
  static const LoadResult result = [] {
    LoadResult r;
    try {
      loadCudnn(r);
      loadCublas(r);
    } catch (const std::exception& e) {  // only bad_alloc is possible here
      if (!r.cublas.handle && r.cublas.error.empty()) r.cublas.error = e.what();
      if (!r.cudnn.handle && r.cudnn.error.empty()) r.cudnn.error = e.what();
    }
    return r;
  }();
  return result;
}

const CudnnApi& cudnn() { return gCudnn; }
const CublasApi& cublas() { return gCublas; }

}  // namespace cgru::cuda
