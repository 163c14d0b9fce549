/*
 * bridge.h - two legs of one node joined: what arrives on one is sent out on the other.
 *
 * While a and b are bridged, what a's far end sends goes out on b as it arrives (and the
 * other way), re-stamped with b's own SSRC and sequence number, its timestamp moved onto
 * b's clock, transcoded only when the two legs' codecs differ. While b's own media needs
 * b's send path (a playback or send_dtmf on b, which win over the bridged audio;
 * injected audio; taps; a hold), a keeps what it heard in a small ring and b's 20 ms
 * tick takes a frame from it. RFC 4733 events heard on one leg are sent again on the
 * other with that leg's telephone-event payload type and its own timestamps (a start
 * with the marker bit, updates every tick, the end packet three times), never as audio.
 * A leg that is not bridged (or no longer) sends its mode again.
 *
 * Only the command path calls these; what runs per packet are the hooks in
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
