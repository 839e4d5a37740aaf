// The shim libraries define this marker in their export layer; unit tests
// link the core without that layer, so they provide it here.
extern "C" __attribute__((visibility("default"))) const char tgs_shim_identity[] = "tgs-shim unit tests";
