package relay

import "testing"

// A merchant's endpoint may not reach the worker's own network.
func TestWebhookEndpointsCannotReachPrivateAddresses(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "10.1.2.3:80", "192.168.0.5:8080", "169.254.169.254:80", "0.0.0.0:80", "172.16.0.1:443"} {
		if err := refusePrivate("tcp", addr, nil); err == nil {
			t.Errorf("%s was allowed", addr)
		}
	}
	for _, addr := range []string{"93.184.216.34:443", "[2606:2800:220:1::1]:443"} {
		if err := refusePrivate("tcp", addr, nil); err != nil {
			t.Errorf("%s was refused: %v", addr, err)
		}
	}
}
