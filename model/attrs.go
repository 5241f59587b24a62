package model

// Attrs holds a node's attributes by name. A value is one of int, float32,
// string, []int or []float32; the codec and the Builder produce nothing else.
type Attrs map[string]any

// Int returns the integer attribute name, or def when it is absent.
func (a Attrs) Int(name string, def int) int {
	if v, ok := a[name].(int); ok {
		return v
	}
	return def
}

// Float returns the float attribute name, or def when it is absent.
// An integer value is accepted and converted.
func (a Attrs) Float(name string, def float32) float32 {
	switch v := a[name].(type) {
	case float32:
		return v
	case int:
		return float32(v)
	}
	return def
}

// String returns the string attribute name, or def when it is absent.
func (a Attrs) String(name, def string) string {
	if v, ok := a[name].(string); ok {
		return v
	}
	return def
}

// Ints returns the integer-list attribute name, or def when it is absent.
func (a Attrs) Ints(name string, def []int) []int {
	if v, ok := a[name].([]int); ok {
		return v
	}
	return def
}

// Floats returns the float-list attribute name, or def when it is absent.
func (a Attrs) Floats(name string, def []float32) []float32 {
	if v, ok := a[name].([]float32); ok {
		return v
	}
	return def
}
