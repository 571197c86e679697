/*
 * A stand-in libnvidia-ml.so.1 for tests: the NVML calls runner makes,
 * answered from a text file named by FAKE_NVML_CONFIG and read again on
 * every nvmlInit and nvmlDeviceGetCount, so a test can change the GPUs (or
 * lose one) while a daemon runs. The types are declared here from NVML's
 * documented ABI (plain structs of unsigned ints and long longs); see
 * fakenvml.go for the file format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
enum {
	SUCCESS = 0, ERR_UNINITIALIZED = 1, ERR_INVALID_ARGUMENT = 2, ERR_NOT_SUPPORTED = 3,
	ERR_INSUFFICIENT_SIZE = 7, ERR_DRIVER_NOT_LOADED = 9, ERR_GPU_IS_LOST = 15,
	ERR_LIB_RM_VERSION_MISMATCH = 18, ERR_UNKNOWN = 999
};

typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;
typedef struct {
	unsigned int pid;
	unsigned long long usedGpuMemory;
	unsigned int gpuInstanceId, computeInstanceId;
} nvmlProcessInfo_t;

#define MAX_GPUS 16
#define MAX_PROCS 16

struct gpu {
	char uuid[96], name[96], state[16];
	unsigned long long total, used, energy;
	unsigned int util, power, nprocs;
	nvmlProcessInfo_t procs[MAX_PROCS];
};

static struct gpu gpus[MAX_GPUS];
static unsigned int ngpus;
static int initRet, inited;

static void load(void) {
	const char *path = getenv("FAKE_NVML_CONFIG");
	FILE *f;
	char line[512];
	ngpus = 0;
	initRet = SUCCESS;
	if (path == NULL || (f = fopen(path, "r")) == NULL) {
		initRet = ERR_DRIVER_NOT_LOADED;
		return;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		struct gpu g;
		unsigned int idx, pid;
		unsigned long long mem;
		memset(&g, 0, sizeof g);
		if (sscanf(line, "init %d", &initRet) == 1) {
			continue;
		}
		if (ngpus < MAX_GPUS && sscanf(line, "gpu %95s %llu %llu %u %u %llu %15s %95[^\n]", g.uuid, &g.total, &g.used,
			&g.util, &g.power, &g.energy, g.state, g.name) == 8) {
			gpus[ngpus++] = g;
			continue;
		}
		if (sscanf(line, "proc %u %u %llu", &idx, &pid, &mem) == 3 && idx < ngpus && gpus[idx].nprocs < MAX_PROCS) {
			nvmlProcessInfo_t *p = &gpus[idx].procs[gpus[idx].nprocs++];
			p->pid = pid;
			p->usedGpuMemory = mem;
			p->gpuInstanceId = p->computeInstanceId = 0xFFFFFFFFu;
		}
	}
	fclose(f);
}

/* A handle is a pointer to its entry; a lost GPU answers nothing. */
static nvmlReturn_t dev(void *h, struct gpu **g) {
	if (!inited) return ERR_UNINITIALIZED;
	if (h == NULL) return ERR_INVALID_ARGUMENT;
	*g = (struct gpu *)h;
	if (strcmp((*g)->state, "lost") == 0) return ERR_GPU_IS_LOST;
	return SUCCESS;
}

nvmlReturn_t nvmlInit_v2(void) {
	load();
	inited = initRet == SUCCESS;
	return initRet;
}
nvmlReturn_t nvmlInit(void) { return nvmlInit_v2(); }
nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { (void)flags; return nvmlInit_v2(); }

nvmlReturn_t nvmlShutdown(void) {
	if (!inited) return ERR_UNINITIALIZED;
	inited = 0;
	return SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t r) {
	switch (r) {
	case SUCCESS: return "Success";
	case ERR_UNINITIALIZED: return "Uninitialized";
	case ERR_INVALID_ARGUMENT: return "Invalid Argument";
	case ERR_NOT_SUPPORTED: return "Not Supported";
	case ERR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case ERR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case ERR_GPU_IS_LOST: return "GPU is lost";
	case ERR_LIB_RM_VERSION_MISMATCH: return "RM has detected an NVML/RM version mismatch.";
	default: return "Unknown Error";
	}
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) {
	if (!inited) return ERR_UNINITIALIZED;
	if (n == NULL) return ERR_INVALID_ARGUMENT;
	load();
	*n = ngpus;
	return SUCCESS;
}
nvmlReturn_t nvmlDeviceGetCount(unsigned int *n) { return nvmlDeviceGetCount_v2(n); }

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, void **h) {
	if (!inited) return ERR_UNINITIALIZED;
	if (h == NULL || i >= ngpus) return ERR_INVALID_ARGUMENT;
	*h = &gpus[i];
	return SUCCESS;
}
nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, void **h) { return nvmlDeviceGetHandleByIndex_v2(i, h); }

static nvmlReturn_t copyString(const char *s, char *buf, unsigned int len) {
	if (buf == NULL) return ERR_INVALID_ARGUMENT;
	if (strlen(s) + 1 > len) return ERR_INSUFFICIENT_SIZE;
	strcpy(buf, s);
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUUID(void *h, char *buf, unsigned int len) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	return r != SUCCESS ? r : copyString(g->uuid, buf, len);
}

nvmlReturn_t nvmlDeviceGetName(void *h, char *buf, unsigned int len) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	return r != SUCCESS ? r : copyString(g->name, buf, len);
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(void *h, nvmlMemory_t *m) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	if (r != SUCCESS) return r;
	if (m == NULL) return ERR_INVALID_ARGUMENT;
	m->total = g->total;
	m->used = g->used;
	m->free = g->total - g->used;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(void *h, nvmlUtilization_t *u) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	if (r != SUCCESS) return r;
	if (u == NULL) return ERR_INVALID_ARGUMENT;
	u->gpu = g->util;
	u->memory = 0;
	return SUCCESS;
}

/* 0 in the file means "not supported", as on GPUs without the sensor. */
nvmlReturn_t nvmlDeviceGetPowerUsage(void *h, unsigned int *mw) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	if (r != SUCCESS) return r;
	if (g->power == 0) return ERR_NOT_SUPPORTED;
	*mw = g->power;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(void *h, unsigned long long *mj) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	if (r != SUCCESS) return r;
	if (g->energy == 0) return ERR_NOT_SUPPORTED;
	*mj = g->energy;
	return SUCCESS;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(void *h, unsigned int *count, nvmlProcessInfo_t *infos) {
	struct gpu *g;
	nvmlReturn_t r = dev(h, &g);
	if (r != SUCCESS) return r;
	if (count == NULL) return ERR_INVALID_ARGUMENT;
	if (*count < g->nprocs) {
		*count = g->nprocs;
		return ERR_INSUFFICIENT_SIZE;
	}
	if (g->nprocs > 0 && infos == NULL) return ERR_INVALID_ARGUMENT;
	memcpy(infos, g->procs, g->nprocs * sizeof *infos);
	*count = g->nprocs;
	return SUCCESS;
}
