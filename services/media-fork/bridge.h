/*
 * bridge.h - two legs of one node joined: what arrives on one is sent out on the other.
 *
 * While a and b are bridged, each leg keeps what its far end sends in a small ring, and
 * the peer's 20 ms tick takes one frame from it and sends it re-stamped with the peer's
 * own SSRC, sequence number and timestamp (leg_tx.c). The audio is transcoded (decoded
 * and encoded again) only when the two legs' codecs differ. RFC 4733 events heard on one
 * leg are sent again on the other with that leg's telephone-event payload type and its
 * own timestamps (a start with the marker bit, updates every tick, the end packet three
 * times), never as audio. A playback or send_dtmf on a leg still wins over the bridged
 * audio for that leg. A leg that is not bridged (or no longer) sends its mode again.
 *
 * Only the command path calls these; nothing here runs per packet except the hooks in
 * leg_internal.h. A bridge's state is allocated when it is made and freed when it ends.
 */
#ifndef MF_BRIDGE_H
#define MF_BRIDGE_H

struct leg;

/*
 * Bridge a and b (both live legs of one engine). A leg already bridged to another is
 * unbridged first (its old peer goes back to its mode); bridging the same pair again
 * does nothing. Returns 0 or VP_E_INVALID_PARAMETER (a == b, or a closing leg).
 */
int bridge_join(struct leg *a, struct leg *b);
/* Unbridge l and its peer (both go back to their modes). Idempotent. */
void bridge_leave(struct leg *l);
/* l's peer, or NULL when l is not bridged. */
struct leg *bridge_peer(const struct leg *l);

#endif
