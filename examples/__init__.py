"""Small standalone services that consume commentfeed's topics the way another team would."""
