/*
 * fuzz_proto.c - libFuzzer target for the packet reader (host/lib/proto.c): the parser the
 * host runs on bytes from a device it cannot trust.
 *
 * The first input byte sets the chunk size the rest is fed in. Checked: no crash, no hang
 * (every call consumes or asks for more), every packet returned as good re-encodes to a
 * packet whose CRCs hold and whose payload fits max_payload.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

enum { MAX_PAYLOAD = 512 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = 1 + data[0];
    data++;
    size--;
    struct cbr_reader r;
    if (cbr_reader_init(&r, MAX_PAYLOAD) < 0)
        return 0;
    static uint8_t wire[CBR_PROTO_HDR + MAX_PAYLOAD + CBR_PROTO_TRAILER];
    size_t fed = 0;
    size_t steps = 0;
    for (;;) {
        struct cbr_pkt p;
        const uint8_t *pl;
        enum cbr_read_result res = cbr_reader_next(&r, &p, &pl);
        if (++steps > 4 * (size + 16))
            abort(); /* more results than bytes: the reader is not making progress */
        if (res == CBR_READ_NEED_MORE) {
            if (fed == size)
                break;
            size_t n = chunk < size - fed ? chunk : size - fed;
            fed += cbr_reader_feed(&r, data + fed, n);
            continue;
        }
        if (res != CBR_READ_PACKET)
            continue;
        if (p.len > MAX_PAYLOAD || p.version != CBR_PROTO_VERSION)
            abort();
        size_t n = cbr_pkt_encode(&p, pl, wire);
        if (n != cbr_pkt_wire_size(p.len))
            abort();
        /* What came out must be exactly a packet: re-encoding gives identical CRCs. */
        if (memcmp(wire + CBR_PROTO_HDR, pl, p.len) != 0)
            abort();
        uint32_t crc = cbr_crc32(0, wire, n - CBR_PROTO_TRAILER);
        if (n % 4 != 0 || memcmp(&crc, wire + n - CBR_PROTO_TRAILER, 4) != 0)
            abort();
    }
    cbr_reader_free(&r);
    return 0;
}
