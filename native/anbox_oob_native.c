/*
 * anbox_oob_native: the few Unix-socket calls Node lacks (SCM_RIGHTS, SO_PEERCRED,
 * non-blocking AF_UNIX sockets as plain descriptors) plus a uv_poll_t readiness watcher.
 *
 * Conventions: plain C against node_api.h (N-API 8). Nothing blocks (every socket is
 * non-blocking, every send/recv uses MSG_DONTWAIT) except waitFd, which tools call on purpose. Every descriptor created or received
 * here is close-on-exec. System failures return -errno; argument type errors (programmer
 * errors) throw a JS TypeError. Nothing aborts or asserts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* accept4, MSG_CMSG_CLOEXEC, struct ucred */
#endif
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>
#include <uv.h>

#define MAX_FDS 253 /* SCM_MAX_FD: the kernel's limit per SCM_RIGHTS message */
#define FDS_OUT_LEN (2 + MAX_FDS)
#define POLL_EVENTS (UV_READABLE | UV_WRITABLE | UV_DISCONNECT)
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04 /* Linux >= 6.5 with SO_PASSPIDFD: carries a descriptor too */
#endif

/* ---------- plain socket operations (no JS) ---------- */

/* Creates, binds and listens. The returned fd belongs to the caller; on failure the
 * socket created here is closed and -errno returned. Nothing is unlinked or chmod'ed. */
static int sock_listen(const struct sockaddr_un *sa, int backlog) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(fd, backlog) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Connects a new non-blocking socket. The returned fd belongs to the caller; on failure
 * the socket created here is closed. AF_UNIX connect completes at once or fails
 * (-EAGAIN when the listener's backlog is full). */
static int sock_connect(const struct sockaddr_un *sa) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Accepts one pending connection. listen_fd stays the caller's; the returned fd is new,
 * non-blocking, close-on-exec and belongs to the caller. */
static int sock_accept(int listen_fd) {
  int fd;
  do fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  return fd < 0 ? -errno : fd;
}

/* Sets or clears O_NONBLOCK on fd (owned by the caller; never closed here). */
static int fd_set_blocking(int fd, bool blocking) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return -errno;
  flags = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

/* One non-blocking sendmsg. fd and fds stay owned by the caller: the kernel duplicates
 * fds into the message, and they travel with the first byte sent. */
static ssize_t sock_sendmsg(int fd, void *data, size_t len, const int *fds, size_t nfds) {
  union { struct cmsghdr align; char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)]; } ctl;
  struct iovec iov = { .iov_base = data, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  ssize_t n;
  if (nfds > 0) {
    memset(&ctl, 0, sizeof(ctl));
    msg.msg_control = ctl.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  do n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : n;
}

/* Whether /proc/self/fd exists, checked once per process (/proc is mounted or not for the
 * process's life; a lookup per connect cost as much as the connect itself). */
static bool proc_fd_available(void) {
  static int state = -1;
  if (state < 0) state = access("/proc/self/fd", F_OK) == 0 ? 1 : 0;
  return state == 1;
}

/* Connects to a data channel's socket entry at `path` in one step (the daemon's connect hot
 * path): open(O_PATH | O_NOFOLLOW) pins the entry itself (the link, for a symlink), fstat
 * checks that it is a socket, and connect() goes to /proc/self/fd/N, which the kernel resolves
 * to exactly that inode (to `path` itself when /proc is not mounted: see proc_fd_available). The pin is closed before
 * returning. Returns the connected fd (the caller's; blocking or not as asked, close-on-exec)
 * or -errno, with out[0] telling the stage that failed: 0 open, 1 not a channel entry
 * (out[1] = 1 for a symlink, 0 for anything else that is not a socket), 2 connect, 3 fcntl
 * (clearing O_NONBLOCK). */
static int channel_connect(const struct sockaddr_un *sa, bool blocking, int32_t *out) {
  struct stat st;
  struct sockaddr_un via = { .sun_family = AF_UNIX };
  int pin, fd, err;
  out[0] = 0;
  out[1] = 0;
  do pin = open(sa->sun_path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  while (pin < 0 && errno == EINTR);
  if (pin < 0) return -errno;
  if (fstat(pin, &st) < 0) {
    err = errno;
    close(pin);
    return -err;
  }
  if (!S_ISSOCK(st.st_mode)) {
    close(pin);
    out[0] = 1;
    out[1] = S_ISLNK(st.st_mode) ? 1 : 0;
    return -ENOTSOCK;
  }
  snprintf(via.sun_path, sizeof(via.sun_path), "/proc/self/fd/%d", pin);
  out[0] = 2;
  fd = sock_connect(proc_fd_available() ? &via : sa);
  close(pin);
  if (fd < 0) return fd;
  out[0] = 3;
  if (blocking && (err = fd_set_blocking(fd, true)) < 0) {
    close(fd);
    return err;
  }
  return fd;
}

/* The trusted-directory fast path of the daemon's connect (docs/protocol.md, "connect"): the
 * socket dir is held open as dir_fd, and it is one only this uid (or root) can write, so no other
 * user can put or swap an entry in it. fstatat(dir_fd, name, AT_SYMLINK_NOFOLLOW) checks that the
 * entry is a socket (a symlink is seen as a symlink, never followed), then `sa` (the same entry by
 * its path) is connected. Three syscalls fewer than channel_connect (no O_PATH pin, no fstat of it,
 * no close of it), and one fcntl instead of two: a socket made here has no other status flag than
 * O_NONBLOCK, so F_SETFL 0 clears it without reading the flags first. Returns and `out` as
 * channel_connect; out[0] = 0 (OPEN) is the fstatat stage. */
static int channel_connect_at(int dir_fd, const char *name, const struct sockaddr_un *sa, bool blocking, int32_t *out) {
  struct stat st;
  int fd;
  out[0] = 0;
  out[1] = 0;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  if (!S_ISSOCK(st.st_mode)) {
    out[0] = 1;
    out[1] = S_ISLNK(st.st_mode) ? 1 : 0;
    return -ENOTSOCK;
  }
  out[0] = 2;
  fd = sock_connect(sa);
  if (fd < 0) return fd;
  out[0] = 3;
  if (blocking && fcntl(fd, F_SETFL, 0) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Opens `path` as a directory (O_DIRECTORY | O_NOFOLLOW: the final component must be a real
 * directory) for channel_connect_at; out[0] = its owner's uid, out[1] = its mode bits.
 * The fd (close-on-exec) is the caller's. */
static int dir_open(const char *path, int32_t *out) {
  struct stat st;
  int fd;
  do fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) return -errno;
  if (fstat(fd, &st) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  out[0] = (int32_t)st.st_uid;
  out[1] = (int32_t)(st.st_mode & 07777);
  return fd;
}

/* Waits up to timeout_ms (-1: for ever) for `events` (POLLIN/POLLOUT) on fd. Returns the
 * revents (> 0), 0 on timeout, or -errno. Blocks the calling thread: for tools only. */
static int fd_wait(int fd, int events, int timeout_ms) {
  struct pollfd p = { .fd = fd, .events = (short)events };
  int n;
  do n = poll(&p, 1, timeout_ms);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  return n == 0 ? 0 : p.revents;
}

/* Moves the descriptors of every SCM_RIGHTS cmsg into out[2..] and counts them in out[0].
 * They become the caller's. Descriptors that do not fit, and pidfds (SCM_PIDFD) nobody
 * asked for, are closed here so nothing leaks. */
static void take_fds(struct msghdr *msg, int32_t *out) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || (c->cmsg_type != SCM_RIGHTS && c->cmsg_type != SCM_PIDFD))
      continue;
    size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (c->cmsg_type == SCM_RIGHTS && out[0] < MAX_FDS) out[2 + out[0]++] = fd;
      else close(fd);
    }
  }
}

/* One non-blocking recvmsg into buf. Received descriptors are close-on-exec and belong
 * to the caller (see take_fds); fd itself stays the caller's. out[1] = 1 on MSG_CTRUNC. */
static ssize_t sock_recvmsg(int fd, void *buf, size_t len, int32_t *out) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS) + CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
  } ctl;
  struct iovec iov = { .iov_base = buf, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl)};
  ssize_t n;
  out[0] = 0;
  out[1] = 0;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  out[1] = (msg.msg_flags & MSG_CTRUNC) ? 1 : 0;
  take_fds(&msg, out);
  return n;
}

/* Reads the peer's pid/uid/gid of a connected Unix socket (fd stays the caller's). */
static int sock_peer_cred(int fd, int32_t *out) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -errno;
  out[0] = (int32_t)cred.pid;
  out[1] = (int32_t)cred.uid;
  out[2] = (int32_t)cred.gid;
  return 0;
}

/* ---------- argument helpers (throw TypeError, return false) ---------- */

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

static bool type_error(napi_env env, const char *msg) {
  throw_type(env, msg);
  return false;
}

/* Reads an integral number in int32 range. */
static bool arg_int(napi_env env, napi_value v, const char *msg, int32_t *out) {
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number || napi_get_value_double(env, v, &d) != napi_ok ||
      !(d >= INT32_MIN && d <= INT32_MAX) || d != (double)(int32_t)d)
    return type_error(env, msg);
  *out = (int32_t)d;
  return true;
}

/* Reads a typed array of the wanted type with at least min_len elements. */
static bool arg_typed(napi_env env, napi_value v, napi_typedarray_type want, size_t min_len, const char *msg,
                      void **data, size_t *len) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, len, data, NULL, NULL) != napi_ok || type != want || *len < min_len)
    return type_error(env, msg);
  return true;
}

/* Reads a filesystem path into sa. *err becomes -ENAMETOOLONG when it does not fit
 * sun_path with its NUL (more than 107 bytes), else 0. */
static bool arg_path(napi_env env, napi_value v, struct sockaddr_un *sa, int *err) {
  napi_valuetype t;
  size_t len = 0;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string ||
      napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok)
    return type_error(env, "path must be a string");
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  *err = len >= sizeof(sa->sun_path) ? -ENAMETOOLONG : 0;
  if (*err != 0) return true;
  if (napi_get_value_string_utf8(env, v, sa->sun_path, sizeof(sa->sun_path), &len) != napi_ok)
    return type_error(env, "path must be a string");
  if (len == 0 || strlen(sa->sun_path) != len) return type_error(env, "path must be non-empty and contain no NUL");
  return true;
}

static napi_value ret_int(napi_env env, int64_t v) {
  napi_value r = NULL;
  napi_create_int64(env, v, &r);
  return r;
}

#define ARGS(n)                                                                  \
  size_t argc = (n);                                                             \
  napi_value argv[(n)];                                                          \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL

/* ---------- JS entry points for sockets ---------- */

/* listenUnix(path, backlog): returned fd is the caller's to close. */
static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_un sa;
  int err;
  int32_t backlog;
  if (!arg_path(env, argv[0], &sa, &err) || !arg_int(env, argv[1], "backlog must be an integer", &backlog))
    return NULL;
  return ret_int(env, err != 0 ? err : sock_listen(&sa, backlog));
}

/* connectUnix(path): returned fd is the caller's to close. */
static napi_value js_connect_unix(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un sa;
  int err;
  if (!arg_path(env, argv[0], &sa, &err)) return NULL;
  return ret_int(env, err != 0 ? err : sock_connect(&sa));
}

/* accept(listenFd): returned fd is the caller's to close. */
static napi_value js_accept(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd)) return NULL;
  return ret_int(env, sock_accept(fd));
}

/* setBlocking(fd, blocking): fd stays the caller's. */
static napi_value js_set_blocking(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  bool blocking;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd)) return NULL;
  if (napi_get_value_bool(env, argv[1], &blocking) != napi_ok) return throw_type(env, "blocking must be a boolean");
  return ret_int(env, fd_set_blocking(fd, blocking));
}

/* sendmsg(fd, data, fds): fd and every entry of fds stay the caller's. The fds are read
 * before `data`, as reading array elements could run JS that detaches data's buffer. */
static napi_value js_sendmsg(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, fds[MAX_FDS];
  void *data;
  size_t len;
  uint32_t nfds = 0;
  bool is_array = false;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd)) return NULL;
  if (napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[2], &nfds) != napi_ok)
    return throw_type(env, "fds must be an array of descriptors");
  if (nfds > MAX_FDS) return throw_type(env, "at most 253 descriptors per message");
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value el;
    if (napi_get_element(env, argv[2], i, &el) != napi_ok || !arg_int(env, el, "fds must hold integers >= 0", &fds[i]))
      return NULL;
    if (fds[i] < 0) return throw_type(env, "fds must hold integers >= 0");
  }
  if (!arg_typed(env, argv[1], napi_uint8_array, 0, "data must be a Uint8Array", &data, &len)) return NULL;
  if (nfds > 0 && len == 0) return throw_type(env, "descriptors need at least one data byte");
  return ret_int(env, sock_sendmsg(fd, data, len, fds, nfds));
}

/* recvmsg(fd, buf, fdsOut): descriptors written to fdsOut[2..] become the caller's. */
static napi_value js_recvmsg(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  void *buf, *out;
  size_t len, out_len;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd) ||
      !arg_typed(env, argv[1], napi_uint8_array, 1, "buf must be a non-empty Uint8Array", &buf, &len) ||
      !arg_typed(env, argv[2], napi_int32_array, FDS_OUT_LEN, "fdsOut must be an Int32Array of length >= 255", &out,
                 &out_len))
    return NULL;
  return ret_int(env, sock_recvmsg(fd, buf, len, out));
}

/* connectChannel(path, blocking, out): see channel_connect; the fd is the caller's. */
static napi_value js_connect_channel(napi_env env, napi_callback_info info) {
  ARGS(3);
  struct sockaddr_un sa;
  int err;
  bool blocking;
  void *out;
  size_t out_len;
  if (!arg_path(env, argv[0], &sa, &err)) return NULL;
  if (napi_get_value_bool(env, argv[1], &blocking) != napi_ok) return throw_type(env, "blocking must be a boolean");
  if (!arg_typed(env, argv[2], napi_int32_array, 2, "out must be an Int32Array of length >= 2", &out, &out_len))
    return NULL;
  if (err != 0) {
    ((int32_t *)out)[0] = 0;
    return ret_int(env, err);
  }
  return ret_int(env, channel_connect(&sa, blocking, out));
}

/* connectChannelAt(dirFd, name, path, blocking, out): see channel_connect_at; `name` is the
 * entry in dirFd, `path` the same entry by path. The fd is the caller's. */
static napi_value js_connect_channel_at(napi_env env, napi_callback_info info) {
  ARGS(5);
  struct sockaddr_un sa;
  char name[sizeof(sa.sun_path)];
  size_t name_len = 0;
  int err;
  int32_t dir_fd;
  bool blocking;
  void *out;
  size_t out_len;
  if (!arg_int(env, argv[0], "dirFd must be an integer", &dir_fd)) return NULL;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof(name), &name_len) != napi_ok || name_len == 0 ||
      name_len >= sizeof(name) - 1 || strlen(name) != name_len || strchr(name, '/') != NULL)
    return throw_type(env, "name must be a non-empty string of at most 106 bytes, without '/' or NUL");
  if (!arg_path(env, argv[2], &sa, &err)) return NULL;
  if (napi_get_value_bool(env, argv[3], &blocking) != napi_ok) return throw_type(env, "blocking must be a boolean");
  if (!arg_typed(env, argv[4], napi_int32_array, 2, "out must be an Int32Array of length >= 2", &out, &out_len))
    return NULL;
  if (err != 0) {
    ((int32_t *)out)[0] = 0;
    return ret_int(env, err);
  }
  return ret_int(env, channel_connect_at(dir_fd, name, &sa, blocking, out));
}

/* openDirectory(path, out): see dir_open; the fd is the caller's. */
static napi_value js_open_directory(napi_env env, napi_callback_info info) {
  ARGS(2);
  char path[4096];
  size_t len = 0;
  void *out;
  size_t out_len;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof(path), &len) != napi_ok || len == 0 ||
      len >= sizeof(path) - 1 || strlen(path) != len)
    return throw_type(env, "path must be a non-empty string without NUL, shorter than 4095 bytes");
  if (!arg_typed(env, argv[1], napi_int32_array, 2, "out must be an Int32Array of length >= 2", &out, &out_len))
    return NULL;
  return ret_int(env, dir_open(path, out));
}

/* waitFd(fd, events, timeoutMs): blocks; see fd_wait. fd stays the caller's. */
static napi_value js_wait_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, events, timeout;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd) || !arg_int(env, argv[1], "events must be an integer", &events) ||
      !arg_int(env, argv[2], "timeoutMs must be an integer", &timeout))
    return NULL;
  return ret_int(env, fd_wait(fd, events, timeout));
}

/* close(fd): ends the caller's ownership. EINTR still closed the fd on Linux: 0. */
static napi_value js_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd)) return NULL;
  return ret_int(env, close(fd) < 0 && errno != EINTR ? -errno : 0);
}

/* shutdown(fd, how): fd stays the caller's (and open). */
static napi_value js_shutdown(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, how;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd) || !arg_int(env, argv[1], "how must be 0, 1 or 2", &how))
    return NULL;
  if (how < 0 || how > 2) return throw_type(env, "how must be 0, 1 or 2");
  return ret_int(env, shutdown(fd, how) < 0 ? -errno : 0);
}

/* peerCredentials(fd, out): fd stays the caller's. */
static napi_value js_peer_credentials(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd;
  void *out;
  size_t out_len;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd) ||
      !arg_typed(env, argv[1], napi_int32_array, 3, "out must be an Int32Array of length >= 3", &out, &out_len))
    return NULL;
  return ret_int(env, sock_peer_cred(fd, out));
}

/* ---------- readiness watcher (uv_poll_t) ---------- */

/* One watcher. It never owns or closes `uv`'s fd. The JS handle is an external pointing
 * here; the struct is freed only when both libuv is done (uv_closed) and the external was
 * finalized (external_gone), so neither a GC'd handle nor a second pollClose can touch
 * freed memory. The callback reference and async context are released (with `env` set
 * to NULL) by pollClose, after a running callback returns, or at environment teardown. */
typedef struct {
  uv_poll_t uv;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int in_callback;
  bool closing, uv_closed, external_gone;
} poll_watch;

static const napi_type_tag poll_tag = { 0x616e626f786f6f62ULL, 0x706f6c6c77617463ULL };

static void poll_env_cleanup(void *arg);

/* Frees the watcher once libuv and the JS external are both finished with it. */
static void poll_free_if_unused(poll_watch *w) {
  if (w->uv_closed && w->external_gone) free(w);
}

/* libuv close callback: libuv no longer uses the memory. */
static void poll_on_close(uv_handle_t *h) {
  poll_watch *w = h->data;
  w->uv_closed = true;
  poll_free_if_unused(w);
}

/* Finalizer of the JS external: the handle is unreachable from JS. The watcher keeps
 * running (if pollClose was never called) until environment teardown. */
static void poll_on_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poll_watch *w = data;
  w->external_gone = true;
  poll_free_if_unused(w);
}

/* Drops the JS state (callback reference, async context, cleanup hook). Idempotent. */
static void poll_release_js(poll_watch *w, bool remove_hook) {
  napi_env env = w->env;
  if (env == NULL) return;
  w->env = NULL;
  if (remove_hook) napi_remove_env_cleanup_hook(env, poll_env_cleanup, w);
  if (w->callback != NULL) napi_delete_reference(env, w->callback);
  if (w->async != NULL) napi_async_destroy(env, w->async);
}

/* Stops watching and hands the uv handle to uv_close. Idempotent. */
static void poll_begin_close(poll_watch *w) {
  if (w->closing) return;
  w->closing = true;
  uv_poll_stop(&w->uv);
  uv_close((uv_handle_t *)&w->uv, poll_on_close);
}

/* Environment teardown (process or worker exit) without pollClose. */
static void poll_env_cleanup(void *arg) {
  poll_watch *w = arg;
  poll_release_js(w, false);
  poll_begin_close(w);
}

/* Turns an exception thrown by the JS callback into an uncaught exception. */
static void poll_surface_exception(napi_env env) {
  bool pending = false;
  napi_value exc;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending &&
      napi_get_and_clear_last_exception(env, &exc) == napi_ok)
    napi_fatal_exception(env, exc);
}

/* Calls callback(status, events) inside a handle scope and a callback scope, so
 * process.nextTick and promise jobs run right after it, as for any Node callback. */
static void poll_call_js(poll_watch *w, int status, int events) {
  napi_env env = w->env;
  napi_handle_scope hs;
  napi_callback_scope cs;
  napi_value global, fn, argv[2], result;
  if (napi_open_handle_scope(env, &hs) != napi_ok) return;
  /* napi_make_callback needs an object receiver; the global object is the neutral one. */
  if (napi_get_global(env, &global) == napi_ok && napi_open_callback_scope(env, global, w->async, &cs) == napi_ok) {
    if (napi_get_reference_value(env, w->callback, &fn) == napi_ok && fn != NULL &&
        napi_create_int32(env, status, &argv[0]) == napi_ok && napi_create_int32(env, events, &argv[1]) == napi_ok)
      napi_make_callback(env, w->async, global, fn, 2, argv, &result);
    poll_surface_exception(env);
    napi_close_callback_scope(env, cs);
  }
  napi_close_handle_scope(env, hs);
}

/* libuv poll callback. A pollClose made by the JS callback is finished after it returns. */
static void poll_on_event(uv_poll_t *h, int status, int events) {
  poll_watch *w = h->data;
  if (w->closing || w->env == NULL) return;
  w->in_callback++;
  poll_call_js(w, status, events & POLL_EVENTS);
  w->in_callback--;
  if (w->closing && w->in_callback == 0) poll_release_js(w, true);
}

/* Reads a handle made by pollStart (TypeError for anything else). */
static poll_watch *arg_watch(napi_env env, napi_value v) {
  napi_valuetype t;
  bool tagged = false;
  void *p = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external ||
      napi_check_object_type_tag(env, v, &poll_tag, &tagged) != napi_ok || !tagged ||
      napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    type_error(env, "handle must come from pollStart");
    return NULL;
  }
  return p;
}

static bool arg_events(napi_env env, napi_value v, int32_t *events) {
  if (!arg_int(env, v, "events must be a mask of 1|2|4", events)) return false;
  if ((*events & ~POLL_EVENTS) != 0) return type_error(env, "events must be a mask of 1|2|4");
  return true;
}

/* Fills w's JS side and wraps it in a tagged external; false if any step failed (then
 * *handle is the external if it was made: its finalizer still owns a share of w). */
static bool poll_attach_js(napi_env env, poll_watch *w, napi_value callback, napi_value *handle) {
  napi_value name;
  *handle = NULL;
  w->env = env;
  if (napi_create_reference(env, callback, 1, &w->callback) != napi_ok ||
      napi_create_string_utf8(env, "AnboxOobPoll", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_async_init(env, NULL, name, &w->async) != napi_ok ||
      napi_add_env_cleanup_hook(env, poll_env_cleanup, w) != napi_ok)
    return false;
  if (napi_create_external(env, w, poll_on_finalize, NULL, handle) != napi_ok ||
      napi_type_tag_object(env, *handle, &poll_tag) != napi_ok) {
    napi_remove_env_cleanup_hook(env, poll_env_cleanup, w);
    return false;
  }
  return true;
}

/* pollStart(fd, events, callback): fd stays the caller's and must outlive the watcher
 * (pollClose before closing it). Returns the handle, or -errno from libuv. */
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, events;
  napi_valuetype t;
  uv_loop_t *loop;
  napi_value handle = NULL;
  if (!arg_int(env, argv[0], "fd must be an integer", &fd) || !arg_events(env, argv[1], &events)) return NULL;
  if (napi_typeof(env, argv[2], &t) != napi_ok || t != napi_function)
    return throw_type(env, "callback must be a function");
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return NULL;
  poll_watch *w = calloc(1, sizeof(*w));
  if (w == NULL) return ret_int(env, -ENOMEM);
  int err = uv_poll_init(loop, &w->uv, fd);
  if (err != 0) {
    free(w);
    return ret_int(env, err);
  }
  w->uv.data = w;
  err = events != 0 ? uv_poll_start(&w->uv, events, poll_on_event) : 0;
  if (err == 0 && poll_attach_js(env, w, argv[2], &handle)) return handle;
  poll_release_js(w, false); /* the cleanup hook is not registered on this path */
  w->external_gone = handle == NULL; /* without an external the close callback frees w */
  poll_begin_close(w);
  return ret_int(env, err != 0 ? err : -ENOMEM);
}

/* pollUpdate(handle, events): 0 pauses (uv_poll_stop), else watches the new mask. */
static napi_value js_poll_update(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t events;
  poll_watch *w = arg_watch(env, argv[0]);
  if (w == NULL || !arg_events(env, argv[1], &events)) return NULL;
  if (w->closing) return ret_int(env, -EBADF);
  return ret_int(env, events == 0 ? uv_poll_stop(&w->uv) : uv_poll_start(&w->uv, events, poll_on_event));
}

/* pollClose(handle): stops at once; memory goes after libuv's close callback. Repeats are no-ops. */
static napi_value js_poll_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  poll_watch *w = arg_watch(env, argv[0]);
  if (w == NULL) return NULL;
  if (!w->closing) {
    poll_begin_close(w);
    if (w->in_callback == 0) poll_release_js(w, true);
  }
  return ret_int(env, 0);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connectUnix", NULL, js_connect_unix, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connectChannel", NULL, js_connect_channel, NULL, NULL, NULL, napi_enumerable, NULL },
    { "connectChannelAt", NULL, js_connect_channel_at, NULL, NULL, NULL, napi_enumerable, NULL },
    { "openDirectory", NULL, js_open_directory, NULL, NULL, NULL, napi_enumerable, NULL },
    { "waitFd", NULL, js_wait_fd, NULL, NULL, NULL, napi_enumerable, NULL },
    { "accept", NULL, js_accept, NULL, NULL, NULL, napi_enumerable, NULL },
    { "setBlocking", NULL, js_set_blocking, NULL, NULL, NULL, napi_enumerable, NULL },
    { "sendmsg", NULL, js_sendmsg, NULL, NULL, NULL, napi_enumerable, NULL },
    { "recvmsg", NULL, js_recvmsg, NULL, NULL, NULL, napi_enumerable, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL },
    { "shutdown", NULL, js_shutdown, NULL, NULL, NULL, napi_enumerable, NULL },
    { "peerCredentials", NULL, js_peer_credentials, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollStart", NULL, js_poll_start, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollUpdate", NULL, js_poll_update, NULL, NULL, NULL, napi_enumerable, NULL },
    { "pollClose", NULL, js_poll_close, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}
