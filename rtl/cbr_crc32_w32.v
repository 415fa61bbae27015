`resetall
`default_nettype none
// cbr_crc32_w32 - one 32-bit (or BITS-bit) step of CRC-32 (IEEE 802.3 / zlib), combinational.
//
// Why: the command block (cbr_cmd) takes and sends one 32-bit word a cycle, and every packet
// word goes through a CRC (docs/protocol.md); the byte-serial cbr_crc32 would need four
// cycles a word. Kept combinational, without a register, so the caller owns the CRC register
// and can restart, hold or feed it from whichever source the packet word comes from.
// crc_in/crc_out are the raw register (preset 0xFFFFFFFF, not yet complemented); the four
// bytes of data are consumed byte 0 (bits [7:0]) first, each LSB first, exactly as zlib's
// crc32() consumes them from memory. The bit loop unrolls into an XOR network.
// BITS < 32 (a multiple of 8, or 1..8) is the slice of a word the compact command block
// (cbr_cmd COMPACT = 1) feeds a cycle: 8 bits take 44 iCE40 LUTs where 32 take 170.
module cbr_crc32_w32 #(
    parameter BITS = 32  // data bits consumed, LSB first, 1..32
) (
    input  wire [31:0]     crc_in,   // CRC register before the word
    input  wire [BITS-1:0] data,     // the word: byte 0 in [7:0]
    output wire [31:0]     crc_out   // CRC register after the word
);

    localparam [31:0] POLY = 32'hEDB8_8320;  // 0x04C11DB7 bit-reversed

    reg [31:0] t;
    integer k;
    always @(*) begin
        t = crc_in;
        t[BITS-1:0] = t[BITS-1:0] ^ data;
        for (k = 0; k < BITS; k = k + 1)
            t = t[0] ? ((t >> 1) ^ POLY) : (t >> 1);
    end

    assign crc_out = t;

endmodule
`resetall
