"""Published algorithms, implemented as published and cited: RPL definitions and APS criteria."""
