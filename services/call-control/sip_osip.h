/*
 * sip_osip.h - libosip2's headers, included in one place with the system headers they
 * need but do not include themselves (struct timeval, time_t).
 */
#ifndef CC_SIP_OSIP_H
#define CC_SIP_OSIP_H

#include <sys/time.h>
#include <time.h>

#include <osip2/osip.h>
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
#include <osipparser2/sdp_message.h>

#endif
