#define _GNU_SOURCE
#include "CHNALinux.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <linux/if_tun.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

_Static_assert(HNA_TUN_F_CSUM == TUN_F_CSUM, "TUN_F_CSUM");
_Static_assert(HNA_TUN_F_TSO4 == TUN_F_TSO4, "TUN_F_TSO4");
_Static_assert(HNA_TUN_F_TSO6 == TUN_F_TSO6, "TUN_F_TSO6");
_Static_assert(HNA_TUN_F_TSO_ECN == TUN_F_TSO_ECN, "TUN_F_TSO_ECN");
_Static_assert(HNA_TUN_F_UFO == TUN_F_UFO, "TUN_F_UFO");
_Static_assert(HNA_EPOLLIN == EPOLLIN && HNA_EPOLLOUT == EPOLLOUT, "EPOLL bits");
_Static_assert(HNA_EPOLLERR == EPOLLERR && HNA_EPOLLHUP == EPOLLHUP, "EPOLL bits");
_Static_assert(sizeof(sigset_t) <= 128, "sigset_t fits the saved-mask buffer");
_Static_assert(sizeof(hna_iovec) == sizeof(struct iovec), "hna_iovec is struct iovec");
_Static_assert(offsetof(hna_iovec, base) == offsetof(struct iovec, iov_base), "hna_iovec.base");
_Static_assert(offsetof(hna_iovec, length) == offsetof(struct iovec, iov_len), "hna_iovec.length");

// ---- TAP ----

int hna_tap_open(const char *name, int flags, char *name_out, int *stage) {
    *stage = 0;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (flags & HNA_TAP_VNET_HDR) ifr.ifr_flags |= IFF_VNET_HDR;
    if (flags & HNA_TAP_MULTI_QUEUE) ifr.ifr_flags |= IFF_MULTI_QUEUE;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    *stage = 1;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
    name_out[IFNAMSIZ - 1] = 0;
    return fd;
}

int hna_tap_set_offload(int fd, unsigned int offloads) {
    return ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0 ? -errno : 0;
}

int hna_tap_set_vnet_hdr_size(int fd, int size) {
    return ioctl(fd, TUNSETVNETHDRSZ, &size) < 0 ? -errno : 0;
}

int hna_fd_read_batch(int fd, hna_msg *msgs, unsigned n, uint64_t max_bytes) {
    unsigned i = 0;
    uint64_t total = 0;
    while (i < n && total < max_bytes) {
        ssize_t r = read(fd, msgs[i].data, msgs[i].capacity);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (i == 0 && errno != EAGAIN) return -errno;
            break;
        }
        msgs[i].length = (uint32_t)r;
        msgs[i].flags = 0;
        msgs[i].segment_size = 0;
        total += (uint64_t)r;
        i++;
    }
    return (int)i;
}

int hna_fd_write_batch(int fd, hna_msg *msgs, unsigned n) {
    unsigned i = 0;
    while (i < n) {
        ssize_t r = write(fd, msgs[i].data, msgs[i].length);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (i == 0) return errno == EAGAIN ? 0 : -errno;
            break;
        }
        i++;
    }
    return (int)i;
}

// ---- UDP ----

static socklen_t to_sockaddr(const hna_sockaddr *a, struct sockaddr_in6 *out) {
    memset(out, 0, sizeof *out);
    if (a->family == 4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)out;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->addr, 4);
        return sizeof *s4;
    }
    out->sin6_family = AF_INET6;
    out->sin6_port = htons(a->port);
    memcpy(&out->sin6_addr, a->addr, 16);
    out->sin6_scope_id = a->scope_id;
    return sizeof *out;
}

static void from_sockaddr(const struct sockaddr_in6 *s, hna_sockaddr *out) {
    memset(out, 0, sizeof *out);
    if (s->sin6_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)s;
        out->family = 4;
        out->port = ntohs(s4->sin_port);
        memcpy(out->addr, &s4->sin_addr, 4);
    } else if (s->sin6_family == AF_INET6) {
        out->family = 6;
        out->port = ntohs(s->sin6_port);
        memcpy(out->addr, &s->sin6_addr, 16);
        out->scope_id = s->sin6_scope_id;
    }
}

int hna_udp_open(const hna_sockaddr *bind_addr, int flags, hna_sockaddr *bound_out, int *stage) {
    *stage = 0;
    int type = SOCK_DGRAM | SOCK_CLOEXEC | ((flags & HNA_UDP_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int fd = socket(bind_addr->family == 4 ? AF_INET : AF_INET6, type, 0);
    if (fd < 0) return -errno;
    int one = 1;
    *stage = 1;
    if ((flags & HNA_UDP_REUSEPORT) && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) goto fail;
    struct sockaddr_in6 sa;
    socklen_t len = to_sockaddr(bind_addr, &sa);
    *stage = 2;
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) goto fail;
    *stage = 3;
    len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) goto fail;
    from_sockaddr(&sa, bound_out);
    return fd;
fail:;
    int e = errno;
    close(fd);
    return -e;
}

int hna_udp_set_gro(int fd, int on) {
    return setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0 ? -errno : 0;
}

int hna_socket_set_buffers(int fd, int rcvbuf, int sndbuf) {
    // The FORCE variants pass net.core.[rw]mem_max when we hold CAP_NET_ADMIN; otherwise fall back to
    // the capped option so an unprivileged run still gets as much as it may.
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0)
        return -errno;
    if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0)
        return -errno;
    return 0;
}

// Room for one int-sized or u16-sized UDP cmsg (GRO reports an int, GSO takes a u16).
#define HNA_CMSG_SPACE CMSG_SPACE(sizeof(int))

int hna_recvmmsg(int fd, hna_msg *msgs, unsigned n, int dontwait) {
    if (n > HNA_BATCH_MAX) n = HNA_BATCH_MAX;
    if (n == 0) return 0;
    struct mmsghdr hdrs[n];
    struct iovec iovs[n];
    struct sockaddr_in6 addrs[n];
    union { char buf[HNA_CMSG_SPACE]; struct cmsghdr align; } ctl[n];
    for (unsigned i = 0; i < n; i++) {
        iovs[i].iov_base = msgs[i].data;
        iovs[i].iov_len = msgs[i].capacity;
        memset(&hdrs[i].msg_hdr, 0, sizeof hdrs[i].msg_hdr);
        hdrs[i].msg_hdr.msg_name = &addrs[i];
        hdrs[i].msg_hdr.msg_namelen = sizeof addrs[i];
        hdrs[i].msg_hdr.msg_iov = &iovs[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
        hdrs[i].msg_hdr.msg_control = ctl[i].buf;
        hdrs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
    }
    int r;
    do {
        r = recvmmsg(fd, hdrs, n, dontwait ? MSG_DONTWAIT : MSG_WAITFORONE, NULL);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    for (int i = 0; i < r; i++) {
        hna_msg *m = &msgs[i];
        m->length = hdrs[i].msg_len;
        m->flags = (hdrs[i].msg_hdr.msg_flags & MSG_TRUNC) ? HNA_MSG_TRUNCATED : 0;
        m->segment_size = 0;
        from_sockaddr(&addrs[i], &m->addr);
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&hdrs[i].msg_hdr); c; c = CMSG_NXTHDR(&hdrs[i].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int gso;
                memcpy(&gso, CMSG_DATA(c), sizeof gso);
                m->segment_size = (uint16_t)gso;
            }
        }
    }
    return r;
}

int hna_sendmmsg(int fd, hna_msg *msgs, unsigned n, int dontwait) {
    if (n > HNA_BATCH_MAX) n = HNA_BATCH_MAX;
    if (n == 0) return 0;
    struct mmsghdr hdrs[n];
    struct iovec iovs[n];
    struct sockaddr_in6 addrs[n];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[n];
    for (unsigned i = 0; i < n; i++) {
        iovs[i].iov_base = msgs[i].data;
        iovs[i].iov_len = msgs[i].length;
        memset(&hdrs[i].msg_hdr, 0, sizeof hdrs[i].msg_hdr);
        if (msgs[i].addr.family != 0) {
            hdrs[i].msg_hdr.msg_name = &addrs[i];
            hdrs[i].msg_hdr.msg_namelen = to_sockaddr(&msgs[i].addr, &addrs[i]);
        }
        hdrs[i].msg_hdr.msg_iov = &iovs[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
        if (msgs[i].segment_size != 0) {
            hdrs[i].msg_hdr.msg_control = ctl[i].buf;
            hdrs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&hdrs[i].msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = msgs[i].segment_size;
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
        }
    }
    int r;
    do {
        r = sendmmsg(fd, hdrs, n, dontwait ? MSG_DONTWAIT : 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    return r;
}

int hna_sendmmsg_gather(int fd, const hna_gather_msg *msgs, unsigned n, const hna_iovec *iovs, int dontwait) {
    if (n > HNA_BATCH_MAX) n = HNA_BATCH_MAX;
    if (n == 0) return 0;
    struct mmsghdr hdrs[n];
    struct sockaddr_in6 addrs[n];
    union { char buf[CMSG_SPACE(sizeof(uint16_t))]; struct cmsghdr align; } ctl[n];
    for (unsigned i = 0; i < n; i++) {
        memset(&hdrs[i].msg_hdr, 0, sizeof hdrs[i].msg_hdr);
        if (msgs[i].addr.family != 0) {
            hdrs[i].msg_hdr.msg_name = &addrs[i];
            hdrs[i].msg_hdr.msg_namelen = to_sockaddr(&msgs[i].addr, &addrs[i]);
        }
        // sendmsg only reads the pieces; struct iovec just has no const.
        hdrs[i].msg_hdr.msg_iov = (struct iovec *)(uintptr_t)&iovs[msgs[i].first];
        hdrs[i].msg_hdr.msg_iovlen = msgs[i].count;
        if (msgs[i].segment_size != 0) {
            hdrs[i].msg_hdr.msg_control = ctl[i].buf;
            hdrs[i].msg_hdr.msg_controllen = sizeof ctl[i].buf;
            struct cmsghdr *c = CMSG_FIRSTHDR(&hdrs[i].msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = msgs[i].segment_size;
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
        }
    }
    int r;
    do {
        r = sendmmsg(fd, hdrs, n, dontwait ? MSG_DONTWAIT : 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    return r;
}

// ---- event loop plumbing ----

int hna_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int hna_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    int kop = op == HNA_EPOLL_ADD ? EPOLL_CTL_ADD : op == HNA_EPOLL_DEL ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    return epoll_ctl(epfd, kop, fd, &ev) < 0 ? -errno : 0;
}

int hna_epoll_wait(int epfd, hna_epoll_event *out, unsigned n, int timeout_ms) {
    if (n > HNA_BATCH_MAX) n = HNA_BATCH_MAX;
    struct epoll_event evs[HNA_BATCH_MAX];
    int r = epoll_wait(epfd, evs, (int)n, timeout_ms);
    if (r < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < r; i++) {
        out[i].data = evs[i].data.u64;
        out[i].events = evs[i].events;
        out[i].reserved = 0;
    }
    return r;
}

uint64_t hna_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int hna_timerfd_create(void) {
    int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int hna_timerfd_arm(int fd, uint64_t deadline_ns) {
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(deadline_ns / 1000000000ull);
    its.it_value.tv_nsec = (long)(deadline_ns % 1000000000ull);
    return timerfd_settime(fd, deadline_ns ? TFD_TIMER_ABSTIME : 0, &its, NULL) < 0 ? -errno : 0;
}

int hna_timerfd_drain(int fd) {
    uint64_t expirations;
    ssize_t r = read(fd, &expirations, sizeof expirations);
    if (r < 0) return errno == EAGAIN ? 0 : -errno;
    return 0;
}

int hna_signalfd_open(const int *signals, unsigned n, void *saved_mask) {
    sigset_t set;
    sigemptyset(&set);
    for (unsigned i = 0; i < n; i++) sigaddset(&set, signals[i]);
    int e = pthread_sigmask(SIG_BLOCK, &set, (sigset_t *)saved_mask);
    if (e != 0) return -e;
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        e = errno;
        pthread_sigmask(SIG_SETMASK, (sigset_t *)saved_mask, NULL);
        return -e;
    }
    return fd;
}

int hna_signal_restore_mask(const void *saved_mask) {
    int e = pthread_sigmask(SIG_SETMASK, (const sigset_t *)saved_mask, NULL);
    return e ? -e : 0;
}

int hna_signalfd_read(int fd, int *out, unsigned n) {
    unsigned count = 0;
    while (count < n) {
        struct signalfd_siginfo si;
        ssize_t r = read(fd, &si, sizeof si);
        if (r < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || count > 0) break;
            return -errno;
        }
        out[count++] = (int)si.ssi_signo;
    }
    return (int)count;
}

int hna_raise_in_thread(int signo) {
    return syscall(SYS_tgkill, getpid(), gettid(), signo) < 0 ? -errno : 0;
}

int hna_eventfd_create(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int hna_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof one) < 0 ? -errno : 0;
}

int hna_eventfd_drain(int fd) {
    uint64_t v;
    return read(fd, &v, sizeof v) < 0 && errno != EAGAIN ? -errno : 0;
}

// ---- namespaces ----

int hna_netns_current(void) {
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int hna_netns_enter(int fd) {
    return setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int hna_close(int fd) {
    return close(fd) < 0 ? -errno : 0;
}

int hna_set_nonblocking(int fd, int on) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) return -errno;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}
