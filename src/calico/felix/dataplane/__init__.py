"""Felix's dataplane: managers (messages -> desired kernel state) applied in one fixed order.

See :mod:`calico.felix.dataplane.driver` for the order and the threading model.
"""
