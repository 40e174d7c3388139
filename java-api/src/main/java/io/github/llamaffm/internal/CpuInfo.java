package io.github.llamaffm.internal;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/** Physical core count: llama.cpp runs fastest with one thread per physical core, not per hyper-thread. */
public final class CpuInfo {
    private CpuInfo() {}

    private static final int PHYSICAL_CORES = detect();

    public static int physicalCores() {
        return PHYSICAL_CORES;
    }

    private static int detect() {
        int logical = Runtime.getRuntime().availableProcessors(); // honours container CPU limits
        int physical = linuxPhysicalCores();
        return physical > 0 ? Math.max(1, Math.min(physical, logical)) : Math.max(1, logical);
    }

    /** Unique (physical id, core id) pairs in /proc/cpuinfo; 0 when unknown. */
    private static int linuxPhysicalCores() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) {
            return 0;
        }
        try {
            List<String> lines = Files.readAllLines(cpuinfo);
            Set<String> cores = new HashSet<>();
            String physicalId = "0";
            for (String line : lines) {
                int colon = line.indexOf(':');
                if (colon < 0) {
                    continue;
                }
                String key = line.substring(0, colon).strip();
                String value = line.substring(colon + 1).strip();
                if (key.equals("physical id")) {
                    physicalId = value;
                } else if (key.equals("core id")) {
                    cores.add(physicalId + ":" + value);
                }
            }
            return cores.size();
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }
}
