"""Journey analytics (`callpop report`): what callers did in the IVR, per node and per
intent, summarised in the database (`query`), shown as text, JSON (`model`) or a
heat-map of the flow diagram (`heatmap`)."""
