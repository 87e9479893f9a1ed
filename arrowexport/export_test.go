package arrowexport

// HostErrnoCode exposes hostErrnoCode to the external tests.
var HostErrnoCode = hostErrnoCode
