/* SPDX-License-Identifier: Apache-2.0 */
/* nodelet-bridge CNI plugin: see cni/bridge.h. */
#include "cni/bridge.h"

int main(void) {
        return cni_plugin_main(&cni_bridge_plugin);
}
