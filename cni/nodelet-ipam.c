/* SPDX-License-Identifier: Apache-2.0 */
/* nodelet-ipam CNI IPAM plugin: see cni/ipam.h. */
#include "cni/ipam.h"

int main(void) {
        return cni_plugin_main(&cni_ipam_plugin);
}
