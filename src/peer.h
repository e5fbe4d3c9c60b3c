/* Who is calling: the uid behind a TCP connection from this host.
 *
 * The kernel knows the owner of every socket.  The client's socket of a
 * connection to us from this host is the one whose own address is our
 * connection's peer and whose peer is our connection's own address;
 * its uid is asked of NETLINK_SOCK_DIAG with that exact 4-tuple (one
 * round trip, a few microseconds), or read from /proc/net/tcp or tcp6
 * when netlink is not there.  A connection from another host has no
 * such socket here: its uid is unknown.  Linux only. */
#pragma once

#include <glib.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The two ends of a connection as seen from the client's socket. */
typedef struct {
  struct sockaddr_storage client;   /* the caller's own address and port */
  struct sockaddr_storage server;   /* the address and port it called */
} JqPeerTuple;

/* The tuple of our connected socket @fd.  FALSE when it is not a
 * connected TCP socket of IPv4 or IPv6. */
gboolean jq_peer_tuple_of_socket (int fd, JqPeerTuple *tuple);

/* The uid owning the client's socket of @tuple: sock_diag, else
 * /proc/net.  FALSE when no socket of this host has that tuple (a caller
 * from another host, or one that has gone). */
gboolean jq_peer_uid (const JqPeerTuple *tuple, uid_t *uid);

/* ------------------------------------------------ pure, for the tests */

/* An IPv4 peer seen through an IPv6 socket (::ffff:a.b.c.d on both
 * ends) is an IPv4 socket on the caller's side: both ends are turned
 * into plain IPv4 addresses, in place.  Other tuples are left as they
 * are. */
void jq_peer_tuple_unmap (JqPeerTuple *tuple);

/* Writes the NETLINK_SOCK_DIAG request for the socket of @tuple into
 * @buf (at least JQ_PEER_REQUEST_MAX bytes); returns its length. */
#define JQ_PEER_REQUEST_MAX 128
gsize jq_peer_diag_request (const JqPeerTuple *tuple, guint32 seq,
                            guint8 *buf);

/* Reads the answer of jq_peer_diag_request(): TRUE and *@uid when it
 * holds the socket and a process still holds that (its inode is not 0);
 * FALSE when it says there is none, a socket its caller has closed, or
 * is malformed. */
gboolean jq_peer_diag_answer (const guint8 *buf, gsize len, guint32 seq,
                              uid_t *uid);

/* Looks for the client's socket of @tuple in the text of /proc/net/tcp
 * (IPv4 tuples) or /proc/net/tcp6 (IPv6): TRUE and *@uid when a row has
 * it with an inode (a process holds it). */
gboolean jq_peer_proc_net_find (const char *text, const JqPeerTuple *tuple,
                                uid_t *uid);
