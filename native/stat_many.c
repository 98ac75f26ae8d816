// statMany(paths, out): stat(2) of every path, written into a Float64Array, four numbers per path:
//   out[4i]     0 a regular file, 1 something else (a directory, a device...), 2 stat failed
//   out[4i + 1] the size in bytes (0 when stat failed)
//   out[4i + 2] the mtime in whole milliseconds, Math.floor of what Node's fs.statSync gives as mtimeMs
//   out[4i + 3] errno when stat failed, else 0
// The layout of the prober's reply (src/files/file-prober.ts), so a batch is one call and no object per file: Node's
// statSync builds a Stats object with four Dates for each file, which cost as much as the system call and leave
// as much garbage. Symbolic links are followed, as statSync does. Errors are only numbered here; the caller asks
// Node's own statSync for the message of the (rare) path that failed.
#define NAPI_VERSION 8
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <node_api.h>

#define STATUS_FILE 0
#define STATUS_OTHER 1
#define STATUS_FAILED 2

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

// Node computes mtimeMs in double arithmetic (sec * 1000 + nsec / 1e6), which rounds up within ~120 ns of the next
// millisecond at today's dates: the same operations here give the same whole milliseconds as Math.floor(mtimeMs).
static double mtime_ms(const struct stat *info) {
#if defined(__APPLE__)
  double sec = (double)info->st_mtimespec.tv_sec, nsec = (double)info->st_mtimespec.tv_nsec;
#else
  double sec = (double)info->st_mtim.tv_sec, nsec = (double)info->st_mtim.tv_nsec;
#endif
  volatile double ms = sec * 1000.0;
  ms = ms + nsec / 1e6;
  return floor(ms);
}

static void stat_one(const char *path, double *out) {
  struct stat info;
  if (stat(path, &info) != 0) {
    out[0] = STATUS_FAILED;
    out[1] = 0;
    out[2] = 0;
    out[3] = errno;
    return;
  }
  out[0] = S_ISREG(info.st_mode) ? STATUS_FILE : STATUS_OTHER;
  out[1] = (double)info.st_size;
  out[2] = mtime_ms(&info);
  out[3] = 0;
}

static napi_value stat_many(napi_env env, napi_callback_info call) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, call, &argc, argv, NULL, NULL) != napi_ok || argc < 2)
    return fail(env, "statMany(paths, out) takes two arguments");
  uint32_t count = 0;
  if (napi_get_array_length(env, argv[0], &count) != napi_ok) return fail(env, "paths must be an array");
  napi_typedarray_type type;
  size_t length = 0;
  void *data = NULL;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &data, NULL, NULL) != napi_ok ||
      type != napi_float64_array)
    return fail(env, "out must be a Float64Array");
  if (length < 4 * (size_t)count) return fail(env, "out must hold four numbers per path");
  double *out = (double *)data;
  size_t capacity = 4096;
  char *path = malloc(capacity);
  if (path == NULL) return fail(env, "out of memory");
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    size_t bytes = 0;
    // One conversion per path into the buffer; a path that filled it is measured and converted again.
    if (napi_get_element(env, argv[0], i, &element) != napi_ok ||
        napi_get_value_string_utf8(env, element, path, capacity, &bytes) != napi_ok) {
      free(path);
      return fail(env, "every path must be a string");
    }
    if (bytes + 1 >= capacity) {
      napi_get_value_string_utf8(env, element, NULL, 0, &bytes);
      char *larger = realloc(path, bytes + 1);
      if (larger == NULL) {
        free(path);
        return fail(env, "out of memory");
      }
      path = larger;
      capacity = bytes + 1;
      napi_get_value_string_utf8(env, element, path, capacity, &bytes);
    }
    // A path with a NUL in it names no file (Node refuses it too): reported as failed with ENOENT.
    if (strlen(path) != bytes) {
      double *at = out + 4 * (size_t)i;
      at[0] = STATUS_FAILED;
      at[1] = at[2] = 0;
      at[3] = ENOENT;
      continue;
    }
    stat_one(path, out + 4 * (size_t)i);
  }
  free(path);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "statMany", NAPI_AUTO_LENGTH, stat_many, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "statMany", fn) != napi_ok) return NULL;
  return exports;
}
