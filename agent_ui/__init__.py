"""Web pages of crm-pay: the customer pay page (and, later, agent and admin consoles)."""
