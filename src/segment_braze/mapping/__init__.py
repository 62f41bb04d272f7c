"""The rule bodies: what each row of the rule table emits.

- :mod:`.identity` - which Braze identifier an event's user gets; alias, delete;
- :mod:`.traits` - traits to standard and custom attributes; identify, group;
- :mod:`.fields` - Braze's standard profile fields: one normaliser per field, and the
  table naming them;
- :mod:`.events` - track, page and screen to custom events; event filters;
- :mod:`.purchases` - orders to purchases;
- :mod:`.values` - Braze's value rules that all of them share.
- :mod:`.attributes` - custom attribute values: arrays, nested objects, array-of-object
  operations.
"""
