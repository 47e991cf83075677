"""``hscnet report``: the paper's Tables 1-4 beside ours, the figures and one page.

``command`` (the subcommand), ``tables`` (rows over seeds, markdown and CSV), ``paper`` (the
paper's reported numbers), ``figures`` (training curves, Figs. 3-4) and ``page`` (one HTML page).
"""
