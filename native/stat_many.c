// statManyAsync(joined, count, out): stat(2) of each of the `count` paths of
// `joined` (one string, the paths separated by NUL, which no path holds: one conversion per batch, not one per
// path), written into a Float64Array, four numbers per path:
//   out[4i]     0 a regular file, 1 something else (a directory, a device...), 2 stat failed
//   out[4i + 1] the size in bytes (0 when stat failed)
//   out[4i + 2] the mtime in whole milliseconds, Math.floor of what Node's fs.statSync gives as mtimeMs
//   out[4i + 3] errno when stat failed, else 0
// The layout of the prober's reply (src/files/file-prober.ts), so a batch is one call and no object per file: Node's
// statSync builds a Stats object with four Dates for each file, which cost as much as the system call and leave
// as much garbage. The calls run on a thread of libuv's pool and a promise settles when `out` is filled, so the main
// thread reads the database meanwhile. Symbolic links are followed, as
// statSync does. Errors are only numbered here; the caller asks statSync for the message of a path that failed.
#define NAPI_VERSION 8
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <node_api.h>

#ifdef _WIN32
// stat() takes paths in the ANSI code page there: Windows uses Node's statSync (scripts/build-native.mjs skips it).
#error "aedb's native stat is for POSIX systems"
#endif

#define STATUS_FILE 0
#define STATUS_OTHER 1
#define STATUS_FAILED 2
// The paths of one call, copied out of JavaScript (a pool thread cannot read JavaScript strings): one buffer of
// NUL-terminated strings and where each starts.
typedef struct {
  uint32_t count;
  char *chars;
  size_t *starts;
  // Where the pool thread writes the numbers: the job's own memory, copied into `out` on the main thread when done
  // (JavaScript could detach, transfer or shrink `out`'s buffer meanwhile).
  double *results;
  napi_ref out_ref;
  napi_deferred deferred;
  napi_async_work work;
} Job;

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static void free_job(Job *job) {
  free(job->chars);
  free(job->starts);
  free(job->results);
  free(job);
}

// Node computes mtimeMs in double arithmetic (sec * 1000 + nsec / 1e6), which rounds up within ~120 ns of the next
// millisecond at today's dates: the same operations (kept apart, so no fused multiply-add) give the same whole
// milliseconds as Math.floor(mtimeMs).
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
  // An empty path names no file (statSync says ENOENT too).
  if (path[0] == 0 || stat(path, &info) != 0) {
    out[0] = STATUS_FAILED;
    out[1] = 0;
    out[2] = 0;
    out[3] = path[0] == 0 ? ENOENT : errno;
    return;
  }
  out[0] = S_ISREG(info.st_mode) ? STATUS_FILE : STATUS_OTHER;
  out[1] = (double)info.st_size;
  out[2] = mtime_ms(&info);
  out[3] = 0;
}

static void stat_all(Job *job) {
  for (uint32_t i = 0; i < job->count; i++) stat_one(job->chars + job->starts[i], job->results + 4 * (size_t)i);
}

// Copies `joined` out of JavaScript and finds where each of its `count` paths starts; 0 when it holds another
// number of paths.
static int split_paths(napi_env env, napi_value joined, Job *job) {
  size_t bytes = 0;
  if (napi_get_value_string_utf8(env, joined, NULL, 0, &bytes) != napi_ok) return 0;
  job->chars = malloc(bytes + 1);
  job->starts = malloc(sizeof(size_t) * ((size_t)job->count + 1));
  if (job->chars == NULL || job->starts == NULL) return 0;
  if (napi_get_value_string_utf8(env, joined, job->chars, bytes + 1, &bytes) != napi_ok) return 0;
  uint32_t found = 0;
  job->starts[found++] = 0;
  for (size_t at = 0; at < bytes; at++) {
    if (job->chars[at] != 0) continue;
    if (found == job->count) return 0;
    job->starts[found++] = at + 1;
  }
  return found == job->count;
}

// `value` as a Float64Array of at least 4 * count numbers (its memory in `data`), else 0.
static int float64_array(napi_env env, napi_value value, uint32_t count, double **data) {
  napi_typedarray_type type;
  size_t length = 0;
  void *at = NULL;
  if (napi_get_typedarray_info(env, value, &type, &length, &at, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length / 4 < (size_t)count)
    return 0;
  *data = (double *)at;
  return 1;
}

// The arguments checked and the paths copied into a new job; NULL with an exception thrown when they are wrong.
static Job *new_job(napi_env env, napi_callback_info call, napi_value *out_value) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, call, &argc, argv, NULL, NULL) != napi_ok || argc < 3)
    return (Job *)fail(env, "statManyAsync(joined, count, out) takes three arguments");
  uint32_t count = 0;
  if (napi_get_value_uint32(env, argv[1], &count) != napi_ok || count == 0 ||
      (size_t)count > SIZE_MAX / (4 * sizeof(double)) - 1)
    return (Job *)fail(env, "count must be a positive whole number");
  double *out = NULL;
  // Checked now for a clear error; checked again when the numbers are copied into it.
  if (!float64_array(env, argv[2], count, &out))
    return (Job *)fail(env, "out must be a Float64Array of four numbers per path");
  Job *job = calloc(1, sizeof(Job));
  if (job == NULL) return (Job *)fail(env, "out of memory");
  job->count = count;
  job->results = malloc(4 * sizeof(double) * (size_t)count);
  if (job->results == NULL) {
    free(job);
    return (Job *)fail(env, "out of memory");
  }
  if (!split_paths(env, argv[0], job)) {
    free_job(job);
    return (Job *)fail(env, "joined must be a string of count paths separated by NUL");
  }
  *out_value = argv[2];
  return job;
}

static void execute(napi_env env, void *data) {
  (void)env;
  stat_all((Job *)data);
}

// Settles the promise: `out` filled with the job's numbers, or rejected if its memory went away meanwhile.
static void complete(napi_env env, napi_status status, void *data) {
  Job *job = (Job *)data;
  napi_value out = NULL, result = NULL;
  double *target = NULL;
  const char *problem = NULL;
  if (status != napi_ok) {
    problem = "statManyAsync did not run";
  } else if (napi_get_reference_value(env, job->out_ref, &out) != napi_ok || out == NULL ||
             !float64_array(env, out, job->count, &target)) {
    problem = "statManyAsync: out was detached or shrunk before the stats were done";
  } else {
    memcpy(target, job->results, 4 * sizeof(double) * (size_t)job->count);
  }
  if (problem == NULL) {
    napi_get_undefined(env, &result);
    napi_resolve_deferred(env, job->deferred, result);
  } else {
    napi_value message;
    napi_create_string_utf8(env, problem, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &result);
    napi_reject_deferred(env, job->deferred, result);
  }
  napi_delete_reference(env, job->out_ref);
  napi_delete_async_work(env, job->work);
  free_job(job);
}

static napi_value stat_many_async(napi_env env, napi_callback_info call) {
  napi_value out, promise, name;
  Job *job = new_job(env, call, &out);
  if (job == NULL) return NULL;
  // The reference keeps `out` alive until the job completes (its memory is checked again then).
  if (napi_create_reference(env, out, 1, &job->out_ref) != napi_ok) {
    free_job(job);
    return fail(env, "statManyAsync could not start");
  }
  if (napi_create_string_utf8(env, "aedb:statMany", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, job, &job->work) != napi_ok) {
    napi_delete_reference(env, job->out_ref);
    free_job(job);
    return fail(env, "statManyAsync could not start");
  }
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok) {
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->out_ref);
    free_job(job);
    return fail(env, "statManyAsync could not start");
  }
  // Once queued, `complete` settles the promise and frees the job whatever happens.
  if (napi_queue_async_work(env, job->work) != napi_ok) {
    napi_value message, error;
    napi_create_string_utf8(env, "statManyAsync could not start", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, job->deferred, error);
    napi_delete_async_work(env, job->work);
    napi_delete_reference(env, job->out_ref);
    free_job(job);
  }
  return promise;
}

NAPI_MODULE_INIT() {
  // The calling convention's version: src/files/native-stat.ts uses a build only when it says the one it expects.
  napi_value abi;
  if (napi_create_uint32(env, 3, &abi) != napi_ok) return NULL;
  napi_property_descriptor functions[] = {
      {"statManyAsync", NULL, stat_many_async, NULL, NULL, NULL, napi_enumerable, NULL},
      {"abi", NULL, NULL, NULL, NULL, abi, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, 2, functions) != napi_ok) return NULL;
  return exports;
}
