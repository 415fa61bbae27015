`resetall
`default_nettype none
// cbr_skid - a two-entry register slice (skid buffer) for a valid/ready stream.
//
// Every pipelined stage of the core ends in one: out_valid/out_data come straight from a
// register and in_ready is a register too, so no combinational path crosses a stage boundary
// in either direction, and the stage still moves one beat per cycle when its consumer is
// ready. The stages in front of it advance on in_ready (see cbr_requant, cbr_pool).
// Stream rules (docs/rtl.md): a beat moves when valid and ready are both high; valid never
// waits for ready; data holds while valid waits.
module cbr_skid #(
    parameter W = 8  // data width
) (
    input  wire         clk,        // rising-edge clock
    input  wire         rst,        // synchronous, active high; clears the valid bits
    input  wire         in_valid,   // input beat present
    output wire         in_ready,   // registered: high when the skid register is empty
    input  wire [W-1:0] in_data,    // beat data
    output wire         out_valid,  // registered
    input  wire         out_ready,  // consumer takes the output beat
    output wire [W-1:0] out_data    // registered
);

    reg [W-1:0] data_q;
    reg [W-1:0] skid_q;
    reg         valid_q;
    reg         skid_valid_q;

    always @(posedge clk) begin
        if (!valid_q || out_ready) begin
            // The output register is free (or being emptied): refill it, skid first.
            if (skid_valid_q) begin
                data_q <= skid_q;
                valid_q <= 1'b1;
                skid_valid_q <= 1'b0;
            end else begin
                data_q <= in_data;
                valid_q <= in_valid;
            end
        end else if (in_valid && !skid_valid_q) begin
            // Output stalled: park the beat that was accepted this cycle.
            skid_q <= in_data;
            skid_valid_q <= 1'b1;
        end
        if (rst) begin
            valid_q <= 1'b0;
            skid_valid_q <= 1'b0;
        end
    end

    assign in_ready = !skid_valid_q;
    assign out_valid = valid_q;
    assign out_data = data_q;

endmodule
`resetall
