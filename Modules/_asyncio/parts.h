/*
 * The parts of the _asyncio module, in the order module.c initialises
 * them.  Each part NAME has a file of its own, NAME.c, which defines
 * NAME_part (see asyncio_part), and a header, NAME.h, with its state
 * (NAME_state, a member of asyncio_state) and what it offers the parts
 * after it.  A part uses only the parts above it; the loop core serves
 * those above it through loop_shortcuts.  This file is the only one a
 * build without some of the later parts has to change.
 */

#include "running_loop.h"
#include "future.h"
#include "registry.h"
#include "task.h"
#include "snapshot.h"
#include "handles.h"
#include "loop.h"
#include "gather.h"
#include "transport.h"
#include "connections.h"
#include "streams.h"

#define ASYNCIO_PARTS(PART) \
    PART(running_loop) \
    PART(future) \
    PART(registry) \
    PART(task) \
    PART(snapshot) \
    PART(handles) \
    PART(loop) \
    PART(gather) \
    PART(transport) \
    PART(connections) \
    PART(streams) \
    /* end of ASYNCIO_PARTS */
