`resetall
`default_nettype none
// cbr_crc32 - CRC-32 of a byte stream, the IEEE 802.3 / zlib crc32() one.
//
// Why: every packet of the protocol (DESIGN.md) carries a CRC-32 over header and payload,
// which the command block checks on the way in and computes on the way out. This is the
// reflected form (polynomial 0xEDB88320, LSB first), register preset to 0xFFFFFFFF, result
// complemented - so crc over "123456789" is 0xCBF43926, the same as zlib's crc32(0, buf, n).
// BYTES bytes per cycle (byte 0 first, in the low bits); in_keep marks the valid ones, which
// must be the low bytes, so a packet tail narrower than the bus needs no special path. The
// byte loop unrolls into an XOR network of BYTES * 8 bit steps.
module cbr_crc32 #(
    parameter BYTES = 1  // bytes consumed per cycle, >= 1
) (
    input  wire             clk,        // rising-edge clock
    input  wire             rst,        // sets the register to its preset, like in_clear
    input  wire             in_clear,   // start a new CRC (takes priority over in_valid)
    input  wire             in_valid,   // consume the bytes marked in in_keep
    input  wire [8*BYTES-1:0] in_data,  // byte i at [8i+:8], byte 0 first
    input  wire [BYTES-1:0] in_keep,    // byte i valid; the valid bytes are the low ones
    output wire [31:0]      crc         // CRC of all bytes consumed since the last clear
);

    localparam [31:0] POLY = 32'hEDB8_8320;  // 0x04C11DB7 bit-reversed

    reg [31:0] state_q;

    // One byte, LSB first: the shift register of the reflected CRC.
    function [31:0] crc_byte;
        input [31:0] c;
        input [7:0] b;
        integer k;
        reg [31:0] t;
        begin
            t = c ^ {24'd0, b};
            for (k = 0; k < 8; k = k + 1)
                t = t[0] ? (t >> 1) ^ POLY : (t >> 1);
            crc_byte = t;
        end
    endfunction

    reg [31:0] next;
    integer i;
    always @(*) begin
        next = state_q;
        for (i = 0; i < BYTES; i = i + 1)
            if (in_keep[i])
                next = crc_byte(next, in_data[8*i +: 8]);
    end

    always @(posedge clk) begin
        if (in_clear)
            state_q <= 32'hFFFF_FFFF;
        else if (in_valid)
            state_q <= next;
        if (rst)
            state_q <= 32'hFFFF_FFFF;
    end

    assign crc = ~state_q;

endmodule
`resetall
