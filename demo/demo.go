// Package demo describes the demonstration organisation that `make run`
// seeds and that firmware-sim's demo mode drives: the same clients, workers
// and devices on both sides, so a newcomer sees live movement and visits.
package demo

// Org is the demo organisation.
const (
	OrgName     = "ГБУ «Центр социального обслуживания “Демо”»"
	OrgTimezone = "Europe/Moscow"
)

// Demo logins, printed by `make run`. Demo only: never used outside the demo
// organisation.
const (
	AdminEmail      = "admin@demo.carevisit"
	SupervisorEmail = "supervisor@demo.carevisit"
	Password        = "demo-password"
	Group           = "Центральный участок"
)

// Client is a care recipient with a home geofence (a circle).
type Client struct {
	Code     string // stable demo key
	FullName string
	Address  string
	Phone    string
	Lat, Lon float64
	RadiusM  float64
}

// Worker is a social worker with one device and a round of clients.
type Worker struct {
	FullName string
	Phone    string
	Protocol string // gt06, h02, watch, osmand
	Ident    string // IMEI / device id
	Model    string
	Home     [2]float64 // lat, lon: the day starts and ends here
	Clients  []string   // client codes, in visiting order
}

// Clients live in central Ryazan, a few hundred metres apart, so a demo
// round of walking visits fits in minutes at the simulator's speed-up.
var Clients = []Client{
	{"c1", "Иванова Анна Петровна", "г. Рязань, ул. Почтовая, д. 12, кв. 5", "+7 910 000-00-01", 54.62920, 39.74210, 40},
	{"c2", "Петров Сергей Иванович", "г. Рязань, ул. Есенина, д. 21, кв. 14", "+7 910 000-00-02", 54.63180, 39.74720, 40},
	{"c3", "Смирнова Мария Алексеевна", "г. Рязань, ул. Ленина, д. 33, кв. 8", "+7 910 000-00-03", 54.62690, 39.74960, 40},
	{"c4", "Кузнецов Николай Фёдорович", "г. Рязань, ул. Свободы, д. 7, кв. 2", "+7 910 000-00-04", 54.62450, 39.74030, 40},
	{"c5", "Попова Галина Викторовна", "г. Рязань, ул. Соборная, д. 15, кв. 31", "+7 910 000-00-05", 54.63400, 39.75150, 40},
	{"c6", "Васильев Пётр Семёнович", "г. Рязань, ул. Горького, д. 4, кв. 11", "+7 910 000-00-06", 54.62300, 39.75400, 40},
}

// Workers each carry one kind of device, so every protocol is seen live.
var Workers = []Worker{
	{"Соколова Елена Викторовна", "+7 910 100-00-01", "gt06", "864717003283581", "S20", [2]float64{54.62610, 39.73610}, []string{"c1", "c2", "c5"}},
	{"Морозов Алексей Игоревич", "+7 910 100-00-02", "h02", "4210051415", "H02", [2]float64{54.62150, 39.74480}, []string{"c4", "c3"}},
	{"Волкова Ольга Николаевна", "+7 910 100-00-03", "watch", "9059011020", "watch", [2]float64{54.62050, 39.75750}, []string{"c6", "c3"}},
	{"Лебедева Татьяна Сергеевна", "+7 910 100-00-04", "osmand", "demo-phone-4", "Android", [2]float64{54.63550, 39.74350}, []string{"c2", "c5"}},
}

// ClientByCode finds a demo client.
func ClientByCode(code string) (Client, bool) {
	for _, c := range Clients {
		if c.Code == code {
			return c, true
		}
	}
	return Client{}, false
}
