/*
 * tr_usb.h - the USB transport (libusb) and the "usb" device (private).
 *
 * URIs: "usb" (the first board with the default VID:PID), "usb:VID:PID" (hex), and
 * "usb:VID:PID:SERIAL". $CBR_USB_ID="VID:PID" changes the default. See docs/links.md.
 */
#ifndef CBR_TR_USB_H
#define CBR_TR_USB_H

#include <stddef.h>
#include <stdint.h>

struct cbr_transport;

/* A Cypress FX3 slave-FIFO streaming bridge enumerates with this ID. */
#define CBR_USB_DEFAULT_VID 0x04b4
#define CBR_USB_DEFAULT_PID 0x00f1

struct cbr_usb_id {
    uint16_t vid, pid;
    char serial[64];          /* "" : any */
};

/* Parse the URI's arguments (after "usb:"; "" for the default). Returns 0 or CBR_EINVAL with
 * a message naming the bad part in err. */
int cbr_usb_parse_uri(const char *args, struct cbr_usb_id *id, char *err, size_t errlen);

/* Open the board args names; on success *t is the transport (closed with its close op) and
 * uri the normalised "usb:VID:PID[:SERIAL]". */
int cbr_transport_usb_open(struct cbr_transport **t, const char *args, char *uri,
                           size_t urilen, char *err, size_t errlen);

/* Emit "usb:VID:PID[:SERIAL]" for each board with the default VID:PID plugged in now. */
void cbr_usb_list(void (*emit)(const char *uri, void *ctx), void *ctx);

#endif
