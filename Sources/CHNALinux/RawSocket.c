#define _GNU_SOURCE
#include "CHNALinux.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>

int hna_raw_open(const hna_sockaddr *bind_addr, int protocol, int flags, int *stage) {
    *stage = 0;
    int type = SOCK_RAW | SOCK_CLOEXEC | ((flags & HNA_UDP_NONBLOCK) ? SOCK_NONBLOCK : 0);
    int v4 = bind_addr->family == 4;
    int fd = socket(v4 ? AF_INET : AF_INET6, type, protocol);
    if (fd < 0) return -errno;
    struct sockaddr_in6 sa;
    socklen_t len;
    memset(&sa, 0, sizeof sa);
    if (v4) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
        s4->sin_family = AF_INET;
        memcpy(&s4->sin_addr, bind_addr->addr, 4);
        len = sizeof *s4;
    } else {
        sa.sin6_family = AF_INET6;
        memcpy(&sa.sin6_addr, bind_addr->addr, 16);
        sa.sin6_scope_id = bind_addr->scope_id;
        len = sizeof sa;
    }
    *stage = 2;
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}
