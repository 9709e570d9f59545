// The Linux readiness API the plaintext IRC loops use (Sources/IRCServer/SocketLoop.swift),
// which Swift's Glibc module does not include.
#ifndef C_SOCKET_EVENTS_H
#define C_SOCKET_EVENTS_H
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

/// accept4(2), a GNU extension the Glibc module does not declare.
int csocketevents_accept4(int fd, struct sockaddr *address, socklen_t *length, int flags);
#endif
#endif
