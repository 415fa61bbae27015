/*
 * emu_usb.c - the emulated board presented as a real USB device through umockdev.
 *
 * A umockdev testbed gets one USB device (sysfs attributes, the descriptors a cbr board over
 * an FX3 slave-FIFO bridge has: one vendor interface, bulk OUT 0x01 and bulk IN 0x81 of 512
 * bytes, high speed) whose device node /dev/bus/usb/001/001 has an ioctl handler attached.
 * The command runs as a child with libumockdev-preload and the testbed's $UMOCKDEV_DIR, so its
 * libusb sees the device in sysfs and talks usbdevfs to it; the preload forwards each ioctl
 * over a socket to this process, where handle_ioctl serves it (on umockdev's worker thread,
 * under e->lock; the board is clocked on that thread too):
 *
 *   SUBMITURB      bulk OUT: the payload goes through the fault injector to the board and the
 *                  URB completes at once; bulk IN: queued until the board has bytes; control:
 *                  GET_DESCRIPTOR (device, configuration, strings) answered, anything else
 *                  stalls, as on the FX3 firmware.
 *   REAPURB[NDELAY] hands back completed URBs in completion order (EAGAIN when none).
 *   DISCARDURB     a pending URB completes with -ENOENT (libusb's timeouts and cancels).
 *   CLEAR_HALT     un-halts an endpoint.
 *   CLAIMINTERFACE, RELEASEINTERFACE, SETINTERFACE, RESET..., GET_CAPABILITIES: succeed.
 *
 * While IN URBs wait and the host was active lately, an idle source clocks the board in
 * slices of about SLICE_US (the board only advances while clocked), below the sockets'
 * priority, so ioctls are answered between slices and a tile the host polls runs to its end.
 * Faults (emu_board_fault, per transfer): drop loses the bytes but completes the URB as a
 * real lost packet would look; stall completes it with -EPIPE and halts the endpoint (every
 * URB on it fails with -EPIPE until CLEAR_HALT); timeout never completes it (until discarded);
 * unplug fails every URB and ioctl with ENODEV, and removes the device from the testbed with a
 * "remove" uevent, so libusb's enumeration and hot-plug see it go.
 */
#include "emu.h"

#include <errno.h>
#include <glib.h>
#include <sys/ioctl.h>
#include <linux/usbdevice_fs.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <umockdev.h>

#define DEVNODE "/dev/bus/usb/001/001"
#define SYSPATH "/sys/devices/usb1"
#define EP_OUT 0x01
#define EP_IN 0x81
#define MAX_PACKET 512
#define SLICE_US 2000          /* aim of one clock slice: ioctls are answered between them */
#define SLICE_MIN 64           /* board cycles per slice, adapted within these bounds */
#define SLICE_MAX 200000
#define ACTIVE_MS 2000         /* clock this long after the host last sent or got bytes */

struct urb {
    UMockdevIoctlData *data;   /* the client's struct usbdevfs_urb (buffer resolved) */
    UMockdevIoctlClient *client;
};

struct usb_emu {
    struct emu_board *b;
    UMockdevTestbed *tb;
    UMockdevIoctlBase *handler;
    GMainLoop *loop;
    const struct emu_usb_opts *o;
    char serial[64];
    GQueue in_q;               /* bulk IN URBs waiting for board bytes, in submission order */
    GQueue hung;               /* URBs a timeout fault swallowed */
    GQueue done;               /* completed URBs, in completion order */
    bool halted_in, halted_out;
    bool gone;
    bool closing;              /* emu_usb_main is tearing down: serve nothing more */
    GMutex lock;               /* umockdev serves ioctls on its own thread */
    GMainContext *ctx;         /* that thread's context: the clock runs there too */
    GSource *clock_src;
    gint64 active_until;       /* monotonic us */
    uint64_t slice;            /* board cycles per clock slice (adapted to take ~SLICE_US) */
    uint8_t *scratch;
    size_t scratch_len;
    int status;                /* the child's, as a shell reports it */
    bool child_done;
    bool verbose;
};

static struct usbdevfs_urb *urb_of(struct urb *u)
{
    return (struct usbdevfs_urb *)u->data->data;
}

static void urb_free(struct urb *u)
{
    g_object_unref(u->data);
    g_object_unref(u->client);
    g_free(u);
}

static void complete_urb(struct usb_emu *e, struct urb *u, int status, int actual)
{
    struct usbdevfs_urb *r = urb_of(u);
    r->status = status;
    r->actual_length = actual;
    g_queue_push_tail(&e->done, u);
}

/* ---- descriptors ------------------------------------------------------------------------ */

static size_t device_descriptor(const struct usb_emu *e, uint8_t *d)
{
    const uint8_t dev[18] = {
        18, 1, 0x00, 0x02,             /* bcdUSB 2.00 */
        0, 0, 0, 64,                   /* class per interface, EP0 64 bytes */
        (uint8_t)e->o->vid, (uint8_t)(e->o->vid >> 8),
        (uint8_t)e->o->pid, (uint8_t)(e->o->pid >> 8),
        0x00, 0x01,                    /* bcdDevice 1.00 */
        1, 2, 3,                       /* manufacturer, product, serial strings */
        1,                             /* one configuration */
    };
    memcpy(d, dev, sizeof dev);
    return sizeof dev;
}

static size_t config_descriptor(uint8_t *d)
{
    const uint8_t cfg[32] = {
        9, 2, 32, 0, 1, 1, 0, 0x80, 50,                    /* 1 interface, bus powered */
        9, 4, 0, 0, 2, 0xFF, 0, 0, 0,                      /* vendor class, 2 endpoints */
        7, 5, EP_OUT, 2, MAX_PACKET & 0xFF, MAX_PACKET >> 8, 0, /* bulk OUT */
        7, 5, EP_IN, 2, MAX_PACKET & 0xFF, MAX_PACKET >> 8, 0,  /* bulk IN */
    };
    memcpy(d, cfg, sizeof cfg);
    return sizeof cfg;
}

static const char *string_of(const struct usb_emu *e, unsigned idx)
{
    switch (idx) {
    case 1: return "cbr project";
    case 2: return "cbr board (cbr-emu, simulated)";
    case 3: return e->serial;
    default: return NULL;
    }
}

/* A standard GET_DESCRIPTOR on EP0; returns the length or -1 (stall). */
static int get_descriptor(const struct usb_emu *e, const uint8_t *setup, uint8_t *out,
                          size_t cap)
{
    uint8_t d[256];
    size_t n = 0;
    unsigned type = setup[3], idx = setup[2];
    if (setup[0] != 0x80 || setup[1] != 6)
        return -1;
    if (type == 1) {
        n = device_descriptor(e, d);
    } else if (type == 2 && idx == 0) {
        n = config_descriptor(d);
    } else if (type == 3 && idx == 0) {
        const uint8_t langs[4] = {4, 3, 0x09, 0x04};
        memcpy(d, langs, sizeof langs);
        n = sizeof langs;
    } else if (type == 3) {
        const char *s = string_of(e, idx);
        if (!s)
            return -1;
        size_t k = strlen(s);
        if (k > 126)
            k = 126;
        d[0] = (uint8_t)(2 + 2 * k);
        d[1] = 3;
        for (size_t i = 0; i < k; i++) {
            d[2 + 2 * i] = (uint8_t)s[i];
            d[3 + 2 * i] = 0;
        }
        n = 2 + 2 * k;
    } else {
        return -1;
    }
    unsigned want = setup[6] | (unsigned)setup[7] << 8;
    if (n > want)
        n = want;
    if (n > cap)
        n = cap;
    memcpy(out, d, n);
    return (int)n;
}

/* The testbed's description of the device (umockdev-record format). */
static char *device_record(const struct usb_emu *e)
{
    uint8_t d[64];
    size_t n = device_descriptor(e, d);
    n += config_descriptor(d + n);
    GString *hex = g_string_new(NULL);
    for (size_t i = 0; i < n; i++)
        g_string_append_printf(hex, "%02x", d[i]);
    char *rec = g_strdup_printf(
        "P: /devices/usb1\n"
        "N: bus/usb/001/001\n"
        "E: SUBSYSTEM=usb\n"
        "E: DEVTYPE=usb_device\n"
        "E: DRIVER=usb\n"
        "E: BUSNUM=001\n"
        "E: DEVNUM=001\n"
        "E: DEVNAME=" DEVNODE "\n"
        "E: PRODUCT=%x/%x/100\n"
        "A: busnum=1\\n\n"
        "A: devnum=1\\n\n"
        "A: speed=480\\n\n"
        "A: bConfigurationValue=1\\n\n"
        "A: bNumInterfaces= 1\\n\n"
        "A: idVendor=%04x\\n\n"
        "A: idProduct=%04x\\n\n"
        "A: manufacturer=%s\\n\n"
        "A: product=%s\\n\n"
        "A: serial=%s\\n\n"
        "H: descriptors=%s\n",
        e->o->vid, e->o->pid, e->o->vid, e->o->pid, string_of(e, 1), string_of(e, 2),
        e->serial, hex->str);
    g_string_free(hex, TRUE);
    return rec;
}

/* ---- the board behind the endpoints ----------------------------------------------------- */

static void unplug(struct usb_emu *e)
{
    if (e->gone)
        return;
    e->gone = true;
    struct urb *u;
    while ((u = g_queue_pop_head(&e->in_q)) != NULL)
        complete_urb(e, u, -ENODEV, 0);
    while ((u = g_queue_pop_head(&e->hung)) != NULL)
        complete_urb(e, u, -ENODEV, 0);
    umockdev_testbed_uevent(e->tb, SYSPATH, "remove");
    umockdev_testbed_remove_device(e->tb, SYSPATH);
    if (e->verbose)
        fprintf(stderr, "cbr-emu: usb: device unplugged\n");
}

/* The halted IN endpoint fails every URB queued on it. */
static void stall_in(struct usb_emu *e)
{
    e->halted_in = true;
    struct urb *u;
    while ((u = g_queue_pop_head(&e->in_q)) != NULL)
        complete_urb(e, u, -EPIPE, 0);
}

static gboolean clock_board(gpointer p);

static void want_clock(struct usb_emu *e)
{
    if (!e->clock_src && !e->gone && !e->closing && !e->halted_in &&
        !g_queue_is_empty(&e->in_q) && g_get_monotonic_time() < e->active_until) {
        /* below umockdev's socket sources: a waiting ioctl goes first */
        e->clock_src = g_idle_source_new();
        g_source_set_priority(e->clock_src, G_PRIORITY_DEFAULT_IDLE);
        g_source_set_callback(e->clock_src, clock_board, e, NULL);
        g_source_attach(e->clock_src, e->ctx);
        g_source_unref(e->clock_src); /* the context holds it until it is removed */
    }
}

static void host_active(struct usb_emu *e)
{
    e->active_until = g_get_monotonic_time() + (gint64)ACTIVE_MS * 1000;
    want_clock(e);
}

/* Idle source: clock the board one slice and complete the oldest IN URB with what came. */
static gboolean clock_board_locked(struct usb_emu *e);

static gboolean clock_board(gpointer p)
{
    struct usb_emu *e = p;
    g_mutex_lock(&e->lock);
    gboolean more = clock_board_locked(e);
    if (!more && !e->closing)
        e->clock_src = NULL;
    g_mutex_unlock(&e->lock);
    return more;
}

static gboolean clock_board_locked(struct usb_emu *e)
{
    struct urb *u = g_queue_peek_head(&e->in_q);
    if (!u || e->gone || e->closing || e->halted_in ||
        g_get_monotonic_time() >= e->active_until)
        return G_SOURCE_REMOVE;
    struct usbdevfs_urb *r = urb_of(u);
    size_t cap = (size_t)r->buffer_length;
    if (cap > e->scratch_len) {
        e->scratch = g_realloc(e->scratch, cap);
        e->scratch_len = cap;
    }
    gint64 t0 = g_get_monotonic_time();
    size_t n = emu_board_d2h(e->b, e->scratch, cap, e->slice);
    gint64 took = g_get_monotonic_time() - t0;
    if (took > SLICE_US && e->slice > SLICE_MIN)
        e->slice /= 2;
    else if (took < SLICE_US / 4 && e->slice < SLICE_MAX && n == 0)
        e->slice *= 2;
    if (n == 0)
        return G_SOURCE_CONTINUE;
    e->active_until = g_get_monotonic_time() + (gint64)ACTIVE_MS * 1000;
    switch (emu_board_fault(e->b, EMU_D2H, e->scratch, n)) {
    case EMU_PASS:
        g_queue_pop_head(&e->in_q);
        memcpy(r->buffer, e->scratch, n);
        complete_urb(e, u, 0, (int)n);
        break;
    case EMU_DROP: /* the bytes are lost; the URB waits for the next ones */
        break;
    case EMU_STALL:
        stall_in(e);
        break;
    case EMU_TIMEOUT:
        g_queue_push_tail(&e->hung, g_queue_pop_head(&e->in_q));
        break;
    case EMU_UNPLUGGED:
        unplug(e);
        break;
    }
    return G_SOURCE_CONTINUE;
}

/* ---- usbdevfs ------------------------------------------------------------------------------ */

static void submit_urb(struct usb_emu *e, UMockdevIoctlClient *client, UMockdevIoctlData *arg)
{
    GError *error = NULL;
    UMockdevIoctlData *data = umockdev_ioctl_data_resolve(arg, 0, sizeof(struct usbdevfs_urb),
                                                          &error);
    if (!data) {
        g_clear_error(&error);
        umockdev_ioctl_client_complete(client, -1, EFAULT);
        return;
    }
    struct usbdevfs_urb *r = (struct usbdevfs_urb *)data->data;
    UMockdevIoctlData *payload = NULL;
    if (r->buffer_length > 0)
        payload = umockdev_ioctl_data_resolve(data, G_STRUCT_OFFSET(struct usbdevfs_urb, buffer),
                                              (gsize)r->buffer_length, &error);
    if (r->buffer_length < 0 || (r->buffer_length > 0 && !payload) || e->gone) {
        g_clear_error(&error);
        g_object_unref(data);
        umockdev_ioctl_client_complete(client, -1, e->gone ? ENODEV : EFAULT);
        return;
    }
    if (payload)
        g_object_unref(payload); /* data keeps it as its child */
    struct urb *u = g_new0(struct urb, 1);
    u->data = data;
    u->client = g_object_ref(client);
    uint8_t *buf = r->buffer;
    size_t n = (size_t)r->buffer_length;

    if (r->type == USBDEVFS_URB_TYPE_CONTROL && r->endpoint == 0 && n >= 8) {
        int k = get_descriptor(e, buf, buf + 8, n - 8);
        complete_urb(e, u, k < 0 ? -EPIPE : 0, k < 0 ? 0 : k);
    } else if (r->type != USBDEVFS_URB_TYPE_BULK || (r->endpoint != EP_IN &&
               r->endpoint != EP_OUT)) {
        urb_free(u);
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return;
    } else if (r->endpoint == EP_IN) {
        if (e->halted_in) {
            complete_urb(e, u, -EPIPE, 0);
        } else {
            g_queue_push_tail(&e->in_q, u);
            want_clock(e);
        }
    } else if (e->halted_out) {
        complete_urb(e, u, -EPIPE, 0);
    } else {
        host_active(e);
        switch (emu_board_fault(e->b, EMU_H2D, buf, n)) {
        case EMU_PASS:
            emu_board_h2d(e->b, buf, n);
            complete_urb(e, u, 0, (int)n);
            break;
        case EMU_DROP: /* taken on the wire, lost before the board */
            complete_urb(e, u, 0, (int)n);
            break;
        case EMU_STALL:
            e->halted_out = true;
            complete_urb(e, u, -EPIPE, 0);
            break;
        case EMU_TIMEOUT:
            g_queue_push_tail(&e->hung, u);
            break;
        case EMU_UNPLUGGED:
            complete_urb(e, u, -ENODEV, 0);
            unplug(e);
            break;
        }
    }
    umockdev_ioctl_client_complete(client, 0, 0);
}

static void reap_urb(struct usb_emu *e, UMockdevIoctlClient *client, UMockdevIoctlData *arg)
{
    struct urb *u = NULL;
    for (GList *l = e->done.head; l; l = l->next) {
        if (((struct urb *)l->data)->client == client) {
            u = l->data;
            g_queue_delete_link(&e->done, l);
            break;
        }
    }
    if (!u) {
        umockdev_ioctl_client_complete(client, -1, e->gone ? ENODEV : EAGAIN);
        return;
    }
    GError *error = NULL;
    UMockdevIoctlData *ptr = umockdev_ioctl_data_resolve(arg, 0, sizeof(gpointer), &error);
    bool ok = ptr && umockdev_ioctl_data_set_ptr(ptr, 0, u->data);
    g_clear_error(&error);
    if (ptr)
        g_object_unref(ptr);
    urb_free(u); /* the reap's argument holds the URB until it is written back */
    if (!ok) {
        umockdev_ioctl_client_complete(client, -1, EFAULT);
        return;
    }
    umockdev_ioctl_client_complete(client, 0, 0);
}

static struct urb *take_pending(GQueue *q, UMockdevIoctlClient *client, gulong addr)
{
    for (GList *l = q->head; l; l = l->next) {
        struct urb *u = l->data;
        if (u->client == client && u->data->client_addr == addr) {
            g_queue_delete_link(q, l);
            return u;
        }
    }
    return NULL;
}

static void discard_urb(struct usb_emu *e, UMockdevIoctlClient *client, UMockdevIoctlData *arg)
{
    gulong addr = *(gulong *)arg->data;
    struct urb *u = take_pending(&e->in_q, client, addr);
    if (!u)
        u = take_pending(&e->hung, client, addr);
    if (!u) {
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return;
    }
    complete_urb(e, u, -ENOENT, 0);
    umockdev_ioctl_client_complete(client, 0, 0);
}

static void clear_halt(struct usb_emu *e, UMockdevIoctlClient *client, UMockdevIoctlData *arg)
{
    GError *error = NULL;
    UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, 0, sizeof(unsigned), &error);
    if (!d) {
        g_clear_error(&error);
        umockdev_ioctl_client_complete(client, -1, EFAULT);
        return;
    }
    unsigned ep = *(unsigned *)d->data;
    g_object_unref(d);
    if (ep == EP_IN) {
        e->halted_in = false;
        want_clock(e);
    } else if (ep == EP_OUT) {
        e->halted_out = false;
    } else if (ep != 0) {
        umockdev_ioctl_client_complete(client, -1, EINVAL);
        return;
    }
    umockdev_ioctl_client_complete(client, 0, 0);
}

static void serve_ioctl(struct usb_emu *e, UMockdevIoctlClient *client);

/* umockdev's "handle-ioctl", on its worker thread. */
static gboolean handle_ioctl(UMockdevIoctlBase *handler, UMockdevIoctlClient *client,
                             gpointer p)
{
    (void)handler;
    struct usb_emu *e = p;
    g_mutex_lock(&e->lock);
    if (!e->ctx)
        e->ctx = g_main_context_ref_thread_default();
    if (e->closing)
        umockdev_ioctl_client_complete(client, -1, ENODEV);
    else
        serve_ioctl(e, client);
    g_mutex_unlock(&e->lock);
    return TRUE;
}

static void serve_ioctl(struct usb_emu *e, UMockdevIoctlClient *client)
{
    gulong req = umockdev_ioctl_client_get_request(client);
    UMockdevIoctlData *arg = umockdev_ioctl_client_get_arg(client);
    switch (req) {
    case USBDEVFS_SUBMITURB:
        submit_urb(e, client, arg);
        return;
    case USBDEVFS_REAPURB:
    case USBDEVFS_REAPURBNDELAY:
        reap_urb(e, client, arg);
        return;
    case USBDEVFS_DISCARDURB:
        discard_urb(e, client, arg);
        return;
    default:
        break;
    }
    if (e->gone) {
        umockdev_ioctl_client_complete(client, -1, ENODEV);
        return;
    }
    switch (req) {
    case USBDEVFS_CLEAR_HALT:
        clear_halt(e, client, arg);
        return;
    case USBDEVFS_GET_CAPABILITIES: {
        GError *error = NULL;
        UMockdevIoctlData *d = umockdev_ioctl_data_resolve(arg, 0, sizeof(guint32), &error);
        if (!d) {
            g_clear_error(&error);
            umockdev_ioctl_client_complete(client, -1, EFAULT);
            return;
        }
        *(guint32 *)d->data = USBDEVFS_CAP_BULK_CONTINUATION | USBDEVFS_CAP_NO_PACKET_SIZE_LIM |
                              USBDEVFS_CAP_REAP_AFTER_DISCONNECT | USBDEVFS_CAP_ZERO_PACKET;
        g_object_unref(d); /* the argument keeps it until it is written back */
        umockdev_ioctl_client_complete(client, 0, 0);
        return;
    }
    case USBDEVFS_GETDRIVER: /* no kernel driver is bound to the interface */
    case USBDEVFS_IOCTL:     /* (re)attaching one: there is none */
        umockdev_ioctl_client_complete(client, -1, ENODATA);
        return;
    case USBDEVFS_CLAIMINTERFACE:
    case USBDEVFS_RELEASEINTERFACE:
    case USBDEVFS_DISCONNECT_CLAIM:
    case USBDEVFS_SETINTERFACE:
    case USBDEVFS_RESET:
    case USBDEVFS_RESETEP:
        umockdev_ioctl_client_complete(client, 0, 0);
        return;
    default:
        if (e->verbose)
            fprintf(stderr, "cbr-emu: usb: ioctl 0x%lx not emulated (ENOTTY)\n", req);
        umockdev_ioctl_client_complete(client, -1, ENOTTY);
        return;
    }
}

/* ---- the command --------------------------------------------------------------------------- */

static void child_setup(gpointer p)
{
    (void)p;
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the emulator */
}

static void child_exited(GPid pid, gint status, gpointer p)
{
    struct usb_emu *e = p;
    g_spawn_close_pid(pid);
    if (WIFEXITED(status))
        e->status = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        e->status = 128 + WTERMSIG(status);
    else
        e->status = 1;
    e->child_done = true;
    g_main_loop_quit(e->loop);
}

/* The child's environment: ours (with the testbed's UMOCKDEV_DIR) plus the preload library,
 * after whatever LD_PRELOAD already holds (a sanitizer runtime must stay first). */
static char **child_env(void)
{
    char **env = g_get_environ();
    const char *old = g_environ_getenv(env, "LD_PRELOAD");
    char *pre = old && *old ? g_strdup_printf("%s:libumockdev-preload.so.0", old)
                            : g_strdup("libumockdev-preload.so.0");
    env = g_environ_setenv(env, "LD_PRELOAD", pre, TRUE);
    g_free(pre);
    return env;
}

int emu_usb_main(struct emu_board *b, const struct emu_usb_opts *o, char *const argv[],
                 char *err, size_t len)
{
    struct emu_usb_opts def = {.vid = 0x04b4, .pid = 0x00f1, .serial = "CBREMU0001"};
    if (!o)
        o = &def;
    if (!argv || !argv[0]) {
        snprintf(err, len, "usb: no command to run");
        return -1;
    }
    struct usb_emu e = {.b = b, .o = o, .status = -1, .slice = 2000};
    snprintf(e.serial, sizeof e.serial, "%s", o->serial && *o->serial ? o->serial
                                                                       : "CBREMU0001");
    const char *v = getenv("CBR_EMU_VERBOSE");
    e.verbose = v && *v && strcmp(v, "0");
    g_queue_init(&e.in_q);
    g_queue_init(&e.hung);
    g_queue_init(&e.done);
    int rc = -1;
    GError *error = NULL;
    char *rec = NULL;
    char **env = NULL;

    g_mutex_init(&e.lock);
    e.tb = umockdev_testbed_new(); /* sets UMOCKDEV_DIR in our environment for the child */
    e.handler = umockdev_ioctl_base_new();
    g_signal_connect(e.handler, "handle-ioctl", G_CALLBACK(handle_ioctl), &e);
    if (!umockdev_testbed_attach_ioctl(e.tb, DEVNODE, e.handler, &error)) {
        snprintf(err, len, "usb: umockdev cannot attach the ioctl handler to %s: %s", DEVNODE,
                 error ? error->message : "?");
        goto out;
    }
    rec = device_record(&e);
    if (!umockdev_testbed_add_from_string(e.tb, rec, &error)) {
        snprintf(err, len, "usb: umockdev cannot add the device: %s",
                 error ? error->message : "?");
        goto out;
    }
    e.loop = g_main_loop_new(NULL, FALSE);
    env = child_env();
    GPid pid;
    if (!g_spawn_async(NULL, (char **)argv, env,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD |
                           G_SPAWN_CHILD_INHERITS_STDIN,
                       child_setup, NULL, &pid, &error)) {
        snprintf(err, len, "usb: cannot run '%s': %s", argv[0], error ? error->message : "?");
        goto out;
    }
    g_child_watch_add(pid, child_exited, &e);
    g_main_loop_run(e.loop);
    rc = e.status;

out:
    g_clear_error(&error);
    g_strfreev(env);
    g_free(rec);
    /* Stop serving, then let umockdev's thread go (the testbed joins it), then free. */
    g_mutex_lock(&e.lock);
    e.closing = true;
    if (e.clock_src)
        g_source_destroy(e.clock_src);
    e.clock_src = NULL;
    g_mutex_unlock(&e.lock);
    if (e.tb)
        umockdev_testbed_detach_ioctl(e.tb, DEVNODE, NULL);
    g_clear_object(&e.handler);
    g_clear_object(&e.tb);
    struct urb *u;
    while ((u = g_queue_pop_head(&e.in_q)) != NULL)
        urb_free(u);
    while ((u = g_queue_pop_head(&e.hung)) != NULL)
        urb_free(u);
    while ((u = g_queue_pop_head(&e.done)) != NULL)
        urb_free(u);
    if (e.ctx)
        g_main_context_unref(e.ctx);
    g_mutex_clear(&e.lock);
    if (e.loop)
        g_main_loop_unref(e.loop);
    g_free(e.scratch);
    return rc;
}
