// CHNALinux: the Linux calls HNALinux needs that Swift cannot reach through Glibc (they sit behind
// _GNU_SOURCE or in linux/ headers that clash with glibc's) or that are much simpler to drive from C
// (msghdr/cmsg arithmetic, TUN ioctls). Every function returns a non-negative result or -errno, so the
// Swift side never reads a thread-local errno after another call may have clobbered it.
#ifndef CHNALINUX_H
#define CHNALINUX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The most messages one hna_recvmmsg/hna_sendmmsg call moves. The kernel's own limit is 1024; a
/// smaller cap keeps the per-call msghdr arrays on the stack small enough for any thread.
#define HNA_BATCH_MAX 256

/// An IPv4 or IPv6 socket address in a form Swift can fill without sockaddr casts.
typedef struct hna_sockaddr {
    uint8_t addr[16];   // IPv4: the first 4 bytes, network order; IPv6: all 16
    uint32_t scope_id;  // IPv6 only
    uint16_t port;      // host order
    uint8_t family;     // 4 or 6; 0 = unset
    uint8_t reserved;
} hna_sockaddr;

enum {
    HNA_MSG_TRUNCATED = 1,   // recv: the datagram/frame was longer than the buffer
};

/// One packet slot of a batch: a buffer, its length, and for UDP the peer address and segment size.
typedef struct hna_msg {
    uint8_t *data;
    uint32_t capacity;      // bytes available at data (receive)
    uint32_t length;        // bytes to send / bytes received
    hna_sockaddr addr;      // UDP send: destination; UDP receive: source; unused for TAP
    uint16_t segment_size;  // UDP send: UDP_SEGMENT (GSO) size, 0 = none; receive: GRO size, 0 = none
    uint16_t flags;         // HNA_MSG_*
    uint32_t reserved;
} hna_msg;

// ---- TAP ----

enum {
    HNA_TAP_VNET_HDR = 1,     // IFF_VNET_HDR: every frame is preceded by a virtio_net_hdr
    HNA_TAP_MULTI_QUEUE = 2,  // IFF_MULTI_QUEUE: each open of the same name adds a queue
};

/// TUN_F_* offload bits for hna_tap_set_offload (checked against the kernel's values in the .c file).
enum {
    HNA_TUN_F_CSUM = 0x01,
    HNA_TUN_F_TSO4 = 0x02,
    HNA_TUN_F_TSO6 = 0x04,
    HNA_TUN_F_TSO_ECN = 0x08,
    HNA_TUN_F_UFO = 0x10,
    HNA_TUN_F_USO4 = 0x20,
    HNA_TUN_F_USO6 = 0x40,
};

/// Opens (creating if needed) TAP device `name` with IFF_TAP|IFF_NO_PI plus `flags`; the kernel's name
/// for it (it may complete a "%d" pattern) is written to `name_out` (16 bytes). Returns the fd or -errno;
/// `*stage` names the step that failed (0 open of /dev/net/tun, 1 TUNSETIFF).
int hna_tap_open(const char *name, int flags, char *name_out, int *stage);
int hna_tap_set_offload(int fd, unsigned int offloads);
int hna_tap_set_vnet_hdr_size(int fd, int size);

/// Reads up to `n` frames, one read(2) each, stopping at the first EAGAIN or once the frames read add
/// up to `max_bytes`. Returns frames read, or -errno when the first read fails with anything but
/// EAGAIN (0 when nothing was waiting).
int hna_fd_read_batch(int fd, hna_msg *msgs, unsigned n, uint64_t max_bytes);
/// Writes `n` frames, one write(2) each, stopping at the first failure. Returns frames written (0 when
/// the first would block), or -errno when the first write fails otherwise.
int hna_fd_write_batch(int fd, hna_msg *msgs, unsigned n);

// ---- UDP ----

enum {
    HNA_UDP_NONBLOCK = 1,
    HNA_UDP_REUSEPORT = 2,
};

/// Opens a UDP socket bound to `bind`; the bound address (with the kernel's port when port was 0) is
/// written to `bound_out`. Returns the fd or -errno; `*stage` names the failing step (0 socket, 1 option,
/// 2 bind, 3 getsockname).
int hna_udp_open(const hna_sockaddr *bind, int flags, hna_sockaddr *bound_out, int *stage);
int hna_udp_set_gro(int fd, int on);
int hna_socket_set_buffers(int fd, int rcvbuf, int sndbuf);

/// recvmmsg of up to min(n, HNA_BATCH_MAX) datagrams into msgs[i].data/capacity, filling length, addr,
/// segment_size (from a UDP_GRO cmsg) and flags. MSG_DONTWAIT when `dontwait`, else MSG_WAITFORONE
/// (block for the first datagram only, never for a full batch). Returns the count
/// (0 when nothing was waiting) or -errno.
int hna_recvmmsg(int fd, hna_msg *msgs, unsigned n, int dontwait);
/// sendmmsg of up to min(n, HNA_BATCH_MAX) datagrams to their msgs[i].addr, with a UDP_SEGMENT cmsg
/// where segment_size is set. Returns how many the kernel took or -errno.
int hna_sendmmsg(int fd, hna_msg *msgs, unsigned n, int dontwait);

/// One piece of a gathered datagram, laid out as struct iovec (checked in the .c file).
typedef struct hna_iovec {
    const void *base;
    size_t length;
} hna_iovec;

/// One datagram, or with segment_size one UDP GSO burst, gathered from `count` pieces starting at index
/// `first` of a shared hna_iovec array: the daemon sends packets from the buffers they already sit in
/// instead of copying them into a send batch.
typedef struct hna_gather_msg {
    hna_sockaddr addr;      // destination
    uint32_t first;         // first piece in the hna_iovec array
    uint32_t count;         // pieces
    uint16_t segment_size;  // UDP_SEGMENT (GSO) size, 0 = one datagram
    uint16_t reserved16;
    uint32_t reserved;
} hna_gather_msg;

/// sendmmsg of up to min(n, HNA_BATCH_MAX) gathered messages. Returns how many the kernel took or -errno
/// (0 when the first would block).
int hna_sendmmsg_gather(int fd, const hna_gather_msg *msgs, unsigned n, const hna_iovec *iovs, int dontwait);

// ---- raw IP ----

/// Opens a raw IP socket (SOCK_RAW) for IP protocol `protocol` (47 for GRE), bound to `bind`'s address so
/// it only sees packets to that address. Sends carry the transport header onward (the kernel writes the
/// IP header); IPv4 receives start at the IPv4 header, IPv6 receives after it (the kernel's raw socket
/// rules). hna_recvmmsg/hna_sendmmsg drive it with port 0 addresses. `flags`: HNA_UDP_NONBLOCK.
/// Returns the fd or -errno; `*stage` names the failing step (0 socket, 2 bind).
int hna_raw_open(const hna_sockaddr *bind, int protocol, int flags, int *stage);

// ---- event loop plumbing ----

typedef struct hna_epoll_event {
    uint64_t data;
    uint32_t events;
    uint32_t reserved;
} hna_epoll_event;

enum {
    HNA_EPOLLIN = 0x001,
    HNA_EPOLLOUT = 0x004,
    HNA_EPOLLERR = 0x008,
    HNA_EPOLLHUP = 0x010,
};

enum { HNA_EPOLL_ADD = 1, HNA_EPOLL_DEL = 2, HNA_EPOLL_MOD = 3 };

int hna_epoll_create(void);
int hna_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
/// epoll_wait of up to min(n, HNA_BATCH_MAX) events; EINTR is reported as 0 events.
int hna_epoll_wait(int epfd, hna_epoll_event *out, unsigned n, int timeout_ms);

/// CLOCK_MONOTONIC in nanoseconds: the clock the daemon hands to the core.
uint64_t hna_monotonic_ns(void);

int hna_timerfd_create(void);
/// Arms the timer for absolute CLOCK_MONOTONIC time `deadline_ns` (0 disarms).
int hna_timerfd_arm(int fd, uint64_t deadline_ns);
/// Consumes the expiry count so the fd stops being readable.
int hna_timerfd_drain(int fd);

/// Blocks `signals` in the calling thread (saving the previous mask in `saved`, 128 bytes) and returns a
/// signalfd that reports them, or -errno.
int hna_signalfd_open(const int *signals, unsigned n, void *saved_mask);
/// Restores a mask saved by hna_signalfd_open.
int hna_signal_restore_mask(const void *saved_mask);
/// Reads pending signals into `out`, up to n. Returns the count (0 if none) or -errno.
int hna_signalfd_read(int fd, int *out, unsigned n);
/// Sends `signo` to the calling thread only (tgkill), so a test never signals the whole process.
int hna_raise_in_thread(int signo);

/// An eventfd: wakes the loop from another thread, and serves tests as a readiness source.
int hna_eventfd_create(void);
int hna_eventfd_signal(int fd);
int hna_eventfd_drain(int fd);

// ---- namespaces ----

/// Opens /proc/thread-self/ns/net (the calling thread's network namespace). Returns fd or -errno.
int hna_netns_current(void);
/// setns(fd, CLONE_NEWNET) for the calling thread. Returns 0 or -errno.
int hna_netns_enter(int fd);

int hna_close(int fd);
int hna_set_nonblocking(int fd, int on);

#ifdef __cplusplus
}
#endif

#endif
