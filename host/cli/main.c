/* main.c - the cbr program: dispatch to a subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *what;
} commands[] = {
    {"devices", cmd_devices, "list the devices this build can open"},
    {"info", cmd_info, "show what a device reports (array, buffers, limits, features)"},
    {"conv", cmd_conv, "run one int8 conv + requant + activation (+ pool) layer on .npy files"},
    {"bench", cmd_bench, "run the conv layers of LeNet-5, ResNet-18, VGG-16, MobileNetV1"},
    {"run", cmd_run, "run an ONNX model: int8 on a device (calibrated), or the float reference"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: cbr COMMAND [OPTIONS]   (cbr COMMAND --help for each)\n"
               "\n"
               "cbr runs int8 Conv + BatchNorm + ReLU layers on the cbr accelerator, its\n"
               "cycle-accurate simulation, or the golden model.\n"
               "\n"
               "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n"
               "  --version  print the version\n"
               "  --help     this text\n"
               "\n"
               "The device is chosen with -d URI (cpu, sim, sim:RxC, sim:ice,\n"
               "usb[:VID:PID[:SERIAL]], pcie:PATH, serial:TTY[@BAUD]); without -d,\n"
               "$CBR_DEVICE, else %s.\n"
               "\n"
               "environment:\n"
               "  CBR_DEVICE           the device when -d is not given\n"
               "  CBR_LINK_LATENCY_US  the link's latency each way for the tile planner (a\n"
               "                       board's USB or PCIe link cannot tell it; docs/links.md)\n"
               "  CBR_TIMEOUT_MS       a request's timeout in ms (default 5000)\n"
               "  CBR_SIM_LINK, CBR_SIM_LATENCY   the sim device's link: bytes per cycle each\n"
               "                       way, latency in cycles (docs/sim.md)\n"
               "  CBR_SIM_PATH         where to look for the sim device's models\n"
               "  CBR_TRACE            the sim device writes an FST waveform to that file\n",
            cbr_default_device());
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("cbr %s\n", CBR_VERSION_STRING);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(cmd, commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "cbr: unknown command '%s' (see cbr --help)\n", cmd);
    return EXIT_USAGE;
}
