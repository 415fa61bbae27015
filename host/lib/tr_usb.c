/*
 * tr_usb.c - the USB transport (libusb-1.0) and the "usb" device.
 *
 * The board is a USB device with one vendor-specific interface holding one bulk OUT and one
 * bulk IN endpoint (a Cypress FX3 slave-FIFO bridge enumerates as 04b4:00f1); the packet
 * protocol runs over the two pipes as a byte stream, with no framing of its own.
 *
 * Reads keep several IN transfers in flight all the time, each a multiple of wMaxPacketSize,
 * so the device never waits for the host to ask; what they bring is queued in completion
 * order and handed out by recv. Writes go out as up to N_OUT asynchronous transfers at once.
 * Every wait is libusb_handle_events_timeout_completed with a deadline, and every transfer has
 * a timeout. Errors (docs/links.md): a STALL is cleared here (clear_halt) and reported as
 * CBR_EIO, so the client resynchronises and retries what is idempotent; a transfer that times
 * out is CBR_ETIMEDOUT; LIBUSB_ERROR_NO_DEVICE, an unplug notice from libusb's hot-plug
 * support or a transfer ending with NO_DEVICE make the transport dead: that call and every
 * later one return CBR_ENODEV at once.
 */
#include <errno.h>
#include <libusb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "transport.h"
#include "tr_usb.h"

#define N_IN 4                 /* IN transfers kept in flight */
#define IN_PACKETS 32          /* each IN buffer: this many max-size packets */
#define IN_TIMEOUT_MS 1000     /* an idle IN transfer is reaped and resubmitted this often */
#define N_OUT 4                /* OUT transfers in flight at once */
#define OUT_CHUNK 65536        /* bytes per OUT transfer */
#define CANCEL_WAIT_MS 2000    /* how long close and error paths wait for cancelled transfers */

enum slot_state { SLOT_IDLE, SLOT_FLYING, SLOT_READY };

struct usb_tr;

struct slot {
    struct usb_tr *u;
    struct libusb_transfer *x;
    uint8_t *buf;
    enum slot_state st;
    size_t off;                /* READY: bytes of x->actual_length already handed out */
};

struct usb_tr {
    struct cbr_transport t;
    libusb_context *ctx;
    libusb_device_handle *h;
    libusb_hotplug_callback_handle hp;
    bool hp_registered;
    int iface;
    bool claimed;
    uint8_t ep_in, ep_out;
    size_t in_len;
    struct slot in[N_IN];
    int ready[N_IN];           /* READY IN slots in completion order */
    int ready_head, ready_n;
    struct slot out[N_OUT];
    int out_status[N_OUT];     /* libusb_transfer_status of a finished OUT transfer */
    bool in_stalled, in_failed, gone;
    uint64_t bytes_out, bytes_in;
};

/* ---- the URI ----------------------------------------------------------------------------- */

static int parse_hex16(const char *s, size_t n, uint16_t *v)
{
    if (n < 1 || n > 4)
        return -1;
    unsigned x = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        x = x << 4 | (unsigned)d;
    }
    *v = (uint16_t)x;
    return 0;
}

/* "VID:PID" at s (up to end or the next ':' after PID). Returns the length parsed or -1. */
static int parse_id(const char *s, uint16_t *vid, uint16_t *pid)
{
    const char *c1 = strchr(s, ':');
    if (!c1 || parse_hex16(s, (size_t)(c1 - s), vid) < 0)
        return -1;
    const char *p = c1 + 1;
    size_t n = strcspn(p, ":");
    if (parse_hex16(p, n, pid) < 0)
        return -1;
    return (int)(p + n - s);
}

int cbr_usb_parse_uri(const char *args, struct cbr_usb_id *id, char *err, size_t errlen)
{
    memset(id, 0, sizeof *id);
    id->vid = CBR_USB_DEFAULT_VID;
    id->pid = CBR_USB_DEFAULT_PID;
    const char *env = getenv("CBR_USB_ID");
    if (env && *env) {
        int k = parse_id(env, &id->vid, &id->pid);
        if (k < 0 || env[k]) {
            snprintf(err, errlen, "CBR_USB_ID='%s' is not VID:PID in hex (like 04b4:00f1)",
                     env);
            return CBR_EINVAL;
        }
    }
    if (!*args)
        return 0;
    int k = parse_id(args, &id->vid, &id->pid);
    if (k < 0) {
        snprintf(err, errlen, "'usb:%s' is not usb:VID:PID[:SERIAL] (VID and PID in hex, "
                 "like usb:04b4:00f1)", args);
        return CBR_EINVAL;
    }
    if (args[k] == ':') {
        const char *serial = args + k + 1;
        if (!*serial || strlen(serial) >= sizeof id->serial) {
            snprintf(err, errlen, "'usb:%s': the serial number after VID:PID is %s", args,
                     *serial ? "too long" : "empty");
            return CBR_EINVAL;
        }
        snprintf(id->serial, sizeof id->serial, "%s", serial);
    }
    return 0;
}

/* ---- finding boards ---------------------------------------------------------------------- */

static const char *usb_errname(int rc)
{
    return libusb_strerror(rc);
}

/* The serial number of dev (opened briefly), or "" if it has none or cannot be read. */
static void read_serial(libusb_device *dev, const struct libusb_device_descriptor *d,
                        char *out, size_t len)
{
    out[0] = '\0';
    libusb_device_handle *h;
    if (!d->iSerialNumber || libusb_open(dev, &h) < 0)
        return;
    unsigned char s[128];
    int n = libusb_get_string_descriptor_ascii(h, d->iSerialNumber, s, sizeof s);
    if (n > 0)
        snprintf(out, len, "%.*s", n, (const char *)s);
    libusb_close(h);
}

static int new_context(libusb_context **ctx, char *err, size_t errlen)
{
    int rc = libusb_init(ctx);
    if (rc < 0) {
        *ctx = NULL;
        snprintf(err, errlen, "libusb cannot start: %s (is /dev/bus/usb there?)",
                 usb_errname(rc));
        return CBR_ENODEV;
    }
    return 0;
}

void cbr_usb_list(void (*emit)(const char *uri, void *ctx), void *ctx)
{
    struct cbr_usb_id id;
    char err[256];
    if (cbr_usb_parse_uri("", &id, err, sizeof err) < 0)
        return;
    libusb_context *uc;
    if (new_context(&uc, err, sizeof err) < 0)
        return;
    libusb_device **list;
    ssize_t n = libusb_get_device_list(uc, &list);
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor d;
        if (libusb_get_device_descriptor(list[i], &d) < 0 || d.idVendor != id.vid ||
            d.idProduct != id.pid)
            continue;
        char serial[64], uri[128];
        read_serial(list[i], &d, serial, sizeof serial);
        if (serial[0])
            snprintf(uri, sizeof uri, "usb:%04x:%04x:%s", id.vid, id.pid, serial);
        else
            snprintf(uri, sizeof uri, "usb:%04x:%04x", id.vid, id.pid);
        emit(uri, ctx);
    }
    if (n >= 0)
        libusb_free_device_list(list, 1);
    libusb_exit(uc);
}

/* Open the one board matching id; with no serial given, several matches are an error. */
static int find_board(struct usb_tr *u, const struct cbr_usb_id *id, char *serial_out,
                      size_t serial_len, char *err, size_t errlen)
{
    libusb_device **list;
    ssize_t n = libusb_get_device_list(u->ctx, &list);
    if (n < 0) {
        snprintf(err, errlen, "cannot list USB devices: %s", usb_errname((int)n));
        return CBR_ENODEV;
    }
    libusb_device *pick = NULL;
    int matches = 0;
    char seen[256] = "";
    for (ssize_t i = 0; i < n; i++) {
        struct libusb_device_descriptor d;
        if (libusb_get_device_descriptor(list[i], &d) < 0 || d.idVendor != id->vid ||
            d.idProduct != id->pid)
            continue;
        char serial[64];
        read_serial(list[i], &d, serial, sizeof serial);
        if (id->serial[0] && strcmp(serial, id->serial))
            continue;
        matches++;
        size_t k = strlen(seen);
        snprintf(seen + k, sizeof seen - k, "%s%s", k ? ", " : "", serial[0] ? serial : "?");
        if (!pick) {
            pick = list[i];
            snprintf(serial_out, serial_len, "%s", serial);
        }
    }
    int rc = 0;
    if (!pick) {
        if (id->serial[0])
            snprintf(err, errlen, "no USB board %04x:%04x with serial number '%s' (see `cbr "
                     "devices`)", id->vid, id->pid, id->serial);
        else
            snprintf(err, errlen, "no USB board %04x:%04x found (is it plugged in? another "
                     "VID:PID: -d usb:VID:PID or $CBR_USB_ID)", id->vid, id->pid);
        rc = CBR_ENODEV;
    } else if (matches > 1 && !id->serial[0]) {
        snprintf(err, errlen, "%d USB boards %04x:%04x (serial numbers %s): choose one with "
                 "-d usb:%04x:%04x:SERIAL", matches, id->vid, id->pid, seen, id->vid, id->pid);
        rc = CBR_EINVAL;
    } else {
        int r = libusb_open(pick, &u->h);
        if (r == LIBUSB_ERROR_ACCESS) {
            snprintf(err, errlen, "USB board %04x:%04x: permission denied (install the udev "
                     "rule with `make install` and add yourself to its group, see docs/links.md)",
                     id->vid, id->pid);
            rc = CBR_ENODEV;
        } else if (r < 0) {
            snprintf(err, errlen, "USB board %04x:%04x: cannot open: %s", id->vid, id->pid,
                     usb_errname(r));
            rc = CBR_ENODEV;
        }
    }
    libusb_free_device_list(list, 1);
    return rc;
}

/* The vendor interface: class 0xFF with a bulk OUT and a bulk IN endpoint. */
static int find_interface(struct usb_tr *u, char *err, size_t errlen)
{
    struct libusb_config_descriptor *cfg;
    int r = libusb_get_active_config_descriptor(libusb_get_device(u->h), &cfg);
    if (r < 0) {
        snprintf(err, errlen, "cannot read the USB configuration: %s", usb_errname(r));
        return r == LIBUSB_ERROR_NO_DEVICE ? CBR_ENODEV : CBR_EIO;
    }
    int rc = CBR_ENODEV;
    snprintf(err, errlen, "the USB device has no vendor interface with a bulk IN and a bulk "
             "OUT endpoint: not a cbr board");
    for (int i = 0; i < cfg->bNumInterfaces && rc < 0; i++) {
        if (cfg->interface[i].num_altsetting < 1)
            continue;
        const struct libusb_interface_descriptor *a = &cfg->interface[i].altsetting[0];
        if (a->bInterfaceClass != LIBUSB_CLASS_VENDOR_SPEC)
            continue;
        int in = -1, out = -1;
        uint16_t mps = 0;
        for (int e = 0; e < a->bNumEndpoints; e++) {
            const struct libusb_endpoint_descriptor *ep = &a->endpoint[e];
            if ((ep->bmAttributes & 3) != LIBUSB_TRANSFER_TYPE_BULK)
                continue;
            if ((ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) && in < 0) {
                in = ep->bEndpointAddress;
                mps = ep->wMaxPacketSize & 0x7FF;
            } else if (!(ep->bEndpointAddress & LIBUSB_ENDPOINT_IN) && out < 0) {
                out = ep->bEndpointAddress;
            }
        }
        if (in < 0 || out < 0 || mps == 0)
            continue;
        u->iface = a->bInterfaceNumber;
        u->ep_in = (uint8_t)in;
        u->ep_out = (uint8_t)out;
        u->in_len = (size_t)mps * IN_PACKETS;
        rc = 0;
    }
    libusb_free_config_descriptor(cfg);
    return rc;
}

/* ---- transfers ---------------------------------------------------------------------------- */

/* Run libusb's events for at most ms milliseconds (returns early when something completes). */
static void pump(struct usb_tr *u, double ms)
{
    if (ms < 0)
        ms = 0;
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000),
                         .tv_usec = (suseconds_t)((ms - 1000.0 * (long)(ms / 1000)) * 1000)};
    int r = libusb_handle_events_timeout_completed(u->ctx, &tv, NULL);
    if (r == LIBUSB_ERROR_NO_DEVICE)
        u->gone = true;
}

static void LIBUSB_CALL in_done(struct libusb_transfer *x)
{
    struct slot *s = x->user_data;
    struct usb_tr *u = s->u;
    s->st = SLOT_IDLE;
    switch (x->status) {
    case LIBUSB_TRANSFER_COMPLETED:
    case LIBUSB_TRANSFER_TIMED_OUT: /* an idle read: resubmitted; keep what it brought */
        if (x->actual_length > 0) {
            s->st = SLOT_READY;
            s->off = 0;
            u->ready[(u->ready_head + u->ready_n++) % N_IN] = (int)(s - u->in);
            u->bytes_in += (uint64_t)x->actual_length;
        }
        break;
    case LIBUSB_TRANSFER_STALL:
        u->in_stalled = true;
        break;
    case LIBUSB_TRANSFER_NO_DEVICE:
        u->gone = true;
        break;
    case LIBUSB_TRANSFER_CANCELLED:
        break;
    default: /* ERROR, OVERFLOW */
        u->in_failed = true;
        break;
    }
}

static void LIBUSB_CALL out_done(struct libusb_transfer *x)
{
    struct slot *s = x->user_data;
    s->u->out_status[s - s->u->out] = x->status;
    s->st = SLOT_IDLE;
    if (x->status == LIBUSB_TRANSFER_NO_DEVICE)
        s->u->gone = true;
}

static int submit(struct usb_tr *u, struct slot *s, char *err, size_t errlen)
{
    s->st = SLOT_FLYING;
    int r = libusb_submit_transfer(s->x);
    if (r == 0)
        return 0;
    s->st = SLOT_IDLE;
    if (r == LIBUSB_ERROR_NO_DEVICE) {
        u->gone = true;
        snprintf(err, errlen, "the USB board is gone (unplugged)");
        return CBR_ENODEV;
    }
    snprintf(err, errlen, "cannot submit a USB transfer: %s", usb_errname(r));
    return CBR_EIO;
}

/* Keep every free IN slot in flight. */
static int fill_in(struct usb_tr *u, char *err, size_t errlen)
{
    for (int i = 0; i < N_IN; i++) {
        if (u->in[i].st != SLOT_IDLE)
            continue;
        int rc = submit(u, &u->in[i], err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static bool any_flying(const struct usb_tr *u, const struct slot *s, int n)
{
    (void)u;
    for (int i = 0; i < n; i++)
        if (s[i].st == SLOT_FLYING)
            return true;
    return false;
}

/* Cancel what is in flight in s[0..n) and wait (bounded) for the cancellations. */
static void cancel_all(struct usb_tr *u, struct slot *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i].st == SLOT_FLYING)
            libusb_cancel_transfer(s[i].x);
    double deadline = cbr_now_ms() + CANCEL_WAIT_MS;
    while (any_flying(u, s, n) && cbr_now_ms() < deadline)
        pump(u, deadline - cbr_now_ms());
}

static int gone_error(char *err, size_t errlen)
{
    snprintf(err, errlen, "the USB board is gone (unplugged)");
    return CBR_ENODEV;
}

/* A halted endpoint: clear it (the device resets its data toggle) and report CBR_EIO. */
static int stalled(struct usb_tr *u, uint8_t ep, char *err, size_t errlen)
{
    int r = libusb_clear_halt(u->h, ep);
    if (r == LIBUSB_ERROR_NO_DEVICE) {
        u->gone = true;
        return gone_error(err, errlen);
    }
    if (r < 0)
        snprintf(err, errlen, "USB endpoint 0x%02x stalled, and clearing it failed: %s", ep,
                 usb_errname(r));
    else
        snprintf(err, errlen, "USB endpoint 0x%02x stalled (cleared; data in flight was lost)",
                 ep);
    return CBR_EIO;
}

static int usb_send(struct cbr_transport *t, const void *buf, size_t n, int timeout_ms,
                    char *err, size_t errlen)
{
    struct usb_tr *u = (struct usb_tr *)t;
    const uint8_t *p = buf;
    if (u->gone)
        return gone_error(err, errlen);
    if (timeout_ms <= 0)
        timeout_ms = 1;
    size_t off = 0;
    int rc = 0;
    bool stall = false;
    double deadline = cbr_now_ms() + timeout_ms;
    for (int i = 0; i < N_OUT; i++)
        u->out_status[i] = LIBUSB_TRANSFER_COMPLETED;
    while (rc == 0 && !stall && (off < n || any_flying(u, u->out, N_OUT))) {
        for (int i = 0; i < N_OUT && off < n && rc == 0; i++) {
            struct slot *s = &u->out[i];
            if (s->st != SLOT_IDLE)
                continue;
            size_t k = n - off < OUT_CHUNK ? n - off : OUT_CHUNK;
            memcpy(s->buf, p + off, k);
            s->x->length = (int)k;
            s->x->timeout = (unsigned)timeout_ms;
            rc = submit(u, s, err, errlen);
            if (rc == 0)
                off += k;
        }
        if (rc < 0)
            break;
        pump(u, deadline + 100 - cbr_now_ms()); /* the transfers' own timeouts end the wait */
        for (int i = 0; i < N_OUT && rc == 0 && !stall; i++) {
            int st = u->out_status[i];
            if (st == LIBUSB_TRANSFER_COMPLETED)
                continue;
            if (st == LIBUSB_TRANSFER_NO_DEVICE || u->gone)
                rc = gone_error(err, errlen);
            else if (st == LIBUSB_TRANSFER_TIMED_OUT)
                rc = (snprintf(err, errlen, "USB bulk OUT: %zu bytes not taken within %d ms",
                               n, timeout_ms), CBR_ETIMEDOUT);
            else if (st == LIBUSB_TRANSFER_STALL)
                stall = true; /* cleared below, once the others are in */
            else
                rc = (snprintf(err, errlen, "USB bulk OUT transfer failed (status %d)", st),
                      CBR_EIO);
        }
        if (rc == 0 && u->gone)
            rc = gone_error(err, errlen);
        if (rc == 0 && stall)
            break;
        if (rc == 0 && cbr_now_ms() > deadline + 2000) /* the transfers' timeouts did not fire */
            rc = (snprintf(err, errlen, "USB bulk OUT: no completion within %d ms", timeout_ms),
                  CBR_ETIMEDOUT);
    }
    if (rc < 0 || stall)
        cancel_all(u, u->out, N_OUT);
    if (rc == 0 && stall)
        rc = u->gone ? gone_error(err, errlen) : stalled(u, u->ep_out, err, errlen);
    if (rc == 0)
        u->bytes_out += n;
    return rc;
}

static int usb_recv(struct cbr_transport *t, void *buf, size_t cap, size_t *got, int timeout_ms,
                    char *err, size_t errlen)
{
    struct usb_tr *u = (struct usb_tr *)t;
    uint8_t *p = buf;
    *got = 0;
    double deadline = cbr_now_ms() + (timeout_ms < 0 ? 1e12 : timeout_ms);
    for (;;) {
        while (u->ready_n && *got < cap) {
            struct slot *s = &u->in[u->ready[u->ready_head]];
            size_t avail = (size_t)s->x->actual_length - s->off;
            size_t k = avail < cap - *got ? avail : cap - *got;
            memcpy(p + *got, s->buf + s->off, k);
            *got += k;
            s->off += k;
            if (s->off == (size_t)s->x->actual_length) {
                s->st = SLOT_IDLE;
                u->ready_head = (u->ready_head + 1) % N_IN;
                u->ready_n--;
            }
        }
        if (u->gone)
            return gone_error(err, errlen); /* what was read is of no use any more */
        if (*got)
            break;
        if (u->in_stalled) {
            u->in_stalled = false;
            cancel_all(u, u->in, N_IN);
            int rc = stalled(u, u->ep_in, err, errlen);
            if (rc == CBR_ENODEV)
                return rc;
            fill_in(u, err, errlen);
            return rc;
        }
        if (u->in_failed) {
            u->in_failed = false;
            fill_in(u, err, errlen);
            snprintf(err, errlen, "USB bulk IN transfer failed");
            return CBR_EIO;
        }
        int rc = fill_in(u, err, errlen);
        if (rc < 0)
            return rc;
        double left = deadline - cbr_now_ms();
        if (left <= 0)
            return 0;
        pump(u, left);
    }
    return fill_in(u, err, errlen);
}

static void usb_stats(struct cbr_transport *t, struct cbr_link_stats *st)
{
    struct usb_tr *u = (struct usb_tr *)t;
    memset(st, 0, sizeof *st);
    st->bytes_out = u->bytes_out;
    st->bytes_in = u->bytes_in;
}

static void usb_close(struct cbr_transport *t)
{
    struct usb_tr *u = (struct usb_tr *)t;
    if (!u)
        return;
    if (u->h) {
        cancel_all(u, u->in, N_IN);
        cancel_all(u, u->out, N_OUT);
    }
    if (u->hp_registered)
        libusb_hotplug_deregister_callback(u->ctx, u->hp);
    if (u->claimed)
        libusb_release_interface(u->h, u->iface);
    if (u->h)
        libusb_close(u->h);
    for (int i = 0; i < N_IN; i++) {
        libusb_free_transfer(u->in[i].x);
        free(u->in[i].buf);
    }
    for (int i = 0; i < N_OUT; i++) {
        libusb_free_transfer(u->out[i].x);
        free(u->out[i].buf);
    }
    if (u->ctx)
        libusb_exit(u->ctx);
    free(u);
}

static const struct cbr_transport_ops usb_ops = {
    .name = "usb",
    .send = usb_send,
    .recv = usb_recv,
    .stats = usb_stats,
    .close = usb_close,
};

/* libusb's unplug notice for our device: the transport is dead from here on. */
static int LIBUSB_CALL on_hotplug(libusb_context *ctx, libusb_device *dev,
                                  libusb_hotplug_event ev, void *p)
{
    (void)ctx;
    struct usb_tr *u = p;
    if (ev == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT && u->h && dev == libusb_get_device(u->h))
        u->gone = true;
    return 0;
}

int cbr_transport_usb_open(struct cbr_transport **out, const char *args, char *uri,
                           size_t urilen, char *err, size_t errlen)
{
    *out = NULL;
    struct cbr_usb_id id;
    int rc = cbr_usb_parse_uri(args, &id, err, errlen);
    if (rc < 0)
        return rc;
    struct usb_tr *u = calloc(1, sizeof *u);
    if (!u) {
        snprintf(err, errlen, "out of memory");
        return CBR_ENOMEM;
    }
    u->t.ops = &usb_ops;
    rc = new_context(&u->ctx, err, errlen);
    if (rc < 0)
        goto out_close;
    char serial[64] = "";
    rc = find_board(u, &id, serial, sizeof serial, err, errlen);
    if (rc < 0)
        goto out_close;
    rc = find_interface(u, err, errlen);
    if (rc < 0)
        goto out_close;
    libusb_set_auto_detach_kernel_driver(u->h, 1);
    int r = libusb_claim_interface(u->h, u->iface);
    if (r < 0) {
        snprintf(err, errlen, "cannot claim interface %d of USB board %04x:%04x: %s%s",
                 u->iface, id.vid, id.pid, usb_errname(r),
                 r == LIBUSB_ERROR_BUSY ? " (another program is using the board)" : "");
        rc = r == LIBUSB_ERROR_NO_DEVICE ? CBR_ENODEV : CBR_EIO;
        goto out_close;
    }
    u->claimed = true;
    if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG) &&
        libusb_hotplug_register_callback(u->ctx, LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT, 0, id.vid,
                                         id.pid, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, u,
                                         &u->hp) == 0)
        u->hp_registered = true;
    for (int i = 0; i < N_IN; i++) {
        struct slot *s = &u->in[i];
        s->u = u;
        s->x = libusb_alloc_transfer(0);
        s->buf = malloc(u->in_len);
        if (!s->x || !s->buf) {
            snprintf(err, errlen, "out of memory");
            rc = CBR_ENOMEM;
            goto out_close;
        }
        libusb_fill_bulk_transfer(s->x, u->h, u->ep_in, s->buf, (int)u->in_len, in_done, s,
                                  IN_TIMEOUT_MS);
    }
    for (int i = 0; i < N_OUT; i++) {
        struct slot *s = &u->out[i];
        s->u = u;
        s->x = libusb_alloc_transfer(0);
        s->buf = malloc(OUT_CHUNK);
        if (!s->x || !s->buf) {
            snprintf(err, errlen, "out of memory");
            rc = CBR_ENOMEM;
            goto out_close;
        }
        libusb_fill_bulk_transfer(s->x, u->h, u->ep_out, s->buf, 0, out_done, s, 1000);
    }
    rc = fill_in(u, err, errlen);
    if (rc < 0)
        goto out_close;
    if (serial[0])
        snprintf(uri, urilen, "usb:%04x:%04x:%s", id.vid, id.pid, serial);
    else
        snprintf(uri, urilen, "usb:%04x:%04x", id.vid, id.pid);
    *out = &u->t;
    return 0;

out_close:
    usb_close(&u->t);
    return rc;
}

/* ---- the "usb" device: the board driver (accel.c) over this transport ------------------- */

static int usbdev_open(cbr_device *dev, const char *args, char *err, size_t len)
{
    struct cbr_transport *tr;
    char uri[128];
    int rc = cbr_transport_usb_open(&tr, args, uri, sizeof uri, err, len);
    if (rc < 0)
        return rc;
    rc = cbr_board_open(dev, tr, uri, err, len);
    if (rc == 0)
        snprintf(dev->info.name, sizeof dev->info.name, "board over USB");
    return rc;
}

static void usbdev_close(cbr_device *dev)
{
    cbr_backend_board.close(dev);
}

static int usbdev_prepare(cbr_device *dev, cbr_layer *l, char *err, size_t len)
{
    return cbr_backend_board.layer_prepare(dev, l, err, len);
}

static void usbdev_release(cbr_device *dev, cbr_layer *l)
{
    cbr_backend_board.layer_release(dev, l);
}

static int usbdev_run(cbr_device *dev, const cbr_layer *l, uint32_t n, const int8_t *in,
                      int8_t *out, cbr_stats *st, char *err, size_t len)
{
    return cbr_backend_board.run(dev, l, n, in, out, st, err, len);
}

const struct cbr_backend cbr_backend_usb = {
    .scheme = "usb",
    .usage = "usb[:VID:PID[:SERIAL]]",
    .open = usbdev_open,
    .close = usbdev_close,
    .list = cbr_usb_list,
    .layer_prepare = usbdev_prepare,
    .layer_release = usbdev_release,
    .run = usbdev_run,
};
