/*
 * voepy-ledger-check - are the books right? One line per invariant, with its figures.
 *
 *   voepy-ledger-check [--dsn DSN] [--wait-ms N] [--allow-unrated]
 *
 * Runs billing_check_invariants() (proto/sql/0033_authorization.sql) and prints
 * "ok" or "BREACH", the invariant's name and its figures. --wait-ms N asks again every
 * 200 ms for up to N ms while something is breached (rating may still be catching up
 * with calls that just ended); --allow-unrated reports calls not yet rated without
 * counting them as a breach (for a platform that runs no rating service). Exit 0 when
 * every invariant holds, 1 on a breach, 2 when the check could not run.
 */
#include <getopt.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_BREACH 1
#define EXIT_ERROR  2

struct options {
    const char *dsn;
    long wait_ms;
    bool allow_unrated;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: voepy-ledger-check [--dsn DSN] [--wait-ms N] [--allow-unrated]\n"
                 "Prints the ledger's invariants and exits 1 on any breach (2 on an error).\n"
                 "DSN defaults to $VOEPY_PG_DSN.\n");
}

/* 0, 1 for --help, or EXIT_ERROR for a bad command line. */
static int options_parse(int argc, char **argv, struct options *o)
{
    static const struct option longs[] = {{"dsn", required_argument, NULL, 'd'},
                                          {"wait-ms", required_argument, NULL, 'w'},
                                          {"allow-unrated", no_argument, NULL, 'u'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    o->dsn = getenv("VOEPY_PG_DSN");
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        char *end;
        if (c == 'd') {
            o->dsn = optarg;
        } else if (c == 'w') {
            o->wait_ms = strtol(optarg, &end, 10);
            if (*end || o->wait_ms < 0 || o->wait_ms > 3600000)
                return EXIT_ERROR;
        } else if (c == 'u') {
            o->allow_unrated = true;
        } else {
            return c == 'h' ? 1 : EXIT_ERROR;
        }
    }
    return optind == argc && o->dsn ? 0 : EXIT_ERROR;
}

static bool tolerated(const struct options *o, const char *name)
{
    return o->allow_unrated && strcmp(name, "ended_calls_rated") == 0;
}

/* Run the check once; the number of breaches, or -1 when it could not run. */
static int check_once(PGconn *db, const struct options *o, bool print)
{
    PGresult *res = PQexec(db, "SELECT name, ok, figures FROM billing_check_invariants()");
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "voepy-ledger-check: %s", PQresultErrorMessage(res));
        PQclear(res);
        return -1;
    }
    int breaches = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        const char *name = PQgetvalue(res, i, 0);
        bool ok = strcmp(PQgetvalue(res, i, 1), "t") == 0;
        const char *verdict = ok ? "ok" : tolerated(o, name) ? "note" : "BREACH";
        if (!ok && !tolerated(o, name))
            breaches++;
        if (print)
            printf("%-6s %-24s %s\n", verdict, name, PQgetvalue(res, i, 2));
    }
    PQclear(res);
    return breaches;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    struct options o = {0};
    int rc = options_parse(argc, argv, &o);
    if (rc) {
        usage(rc == 1 ? stdout : stderr);
        return rc == 1 ? 0 : EXIT_ERROR;
    }
    PGconn *db = PQconnectdb(o.dsn);
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "voepy-ledger-check: %s", PQerrorMessage(db));
        PQfinish(db);
        return EXIT_ERROR;
    }
    int breaches = check_once(db, &o, false);
    for (long waited = 0; breaches > 0 && waited < o.wait_ms; waited += 200) {
        sleep_ms(200);
        breaches = check_once(db, &o, false);
    }
    if (breaches >= 0)
        breaches = check_once(db, &o, true);
    PQfinish(db);
    return breaches < 0 ? EXIT_ERROR : breaches > 0 ? EXIT_BREACH : 0;
}
