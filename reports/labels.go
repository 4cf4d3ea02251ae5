package reports

import "time"

// labels are a report's words in one language.
type labels struct {
	lang                                   string
	sheetCover, sheetSummary, sheetVisits  string
	sheetCharts                            string
	title                                  string
	coverKeys                              [7]string // organisation, period, zone, scope, built, visits, language
	wholeOrg, group, worker, noWorker      string
	myGroups                               string
	total                                  string
	summaryHead                            []string
	visitsHead                             []string
	chartVisitsPerDay, chartHoursPerWorker string
	chartDurations                         string
	dayHead, countHead, hoursHead          string
	bucketHead, workerHead                 string
	topWorkersNote                         string
	minutes                                string
	flags                                  map[string]string
	dateFmt, timeFmt, dateTimeFmt          string // Excel number formats
	chartDayFmt                            string // short dates under the per-day bars
	goDate                                 string // Go layout for dates in text
	csvComma                               rune
	mailSubject, mailBody                  string
}

func labelsFor(lang string) labels {
	if lang == "en" {
		return labels{
			lang:       "en",
			sheetCover: "Cover", sheetSummary: "Summary", sheetVisits: "Visits", sheetCharts: "Charts",
			title:     "Client visits report",
			coverKeys: [7]string{"Organisation", "Period", "Time zone", "Scope", "Built", "Visits", "Language"},
			wholeOrg:  "Whole organisation", group: "Group", worker: "Worker", noWorker: "(no worker)",
			myGroups: "The supervisor's groups",
			total:    "Total",
			summaryHead: []string{"Worker", "Group", "Visits", "Hours at clients", "Average duration",
				"Short visits", "Missed planned visits", "Disputed visits"},
			visitsHead: []string{"Date", "Client", "Address", "Worker", "Group", "Arrived", "Left", "Duration",
				"Services", "Flags", "Corrections"},
			chartVisitsPerDay: "Visits per day", chartHoursPerWorker: "Hours at clients per worker",
			chartDurations: "Visit duration distribution",
			dayHead:        "Day", countHead: "Visits", hoursHead: "Hours", bucketHead: "Duration, min",
			workerHead:     "Worker",
			topWorkersNote: "workers with the most hours",
			minutes:        "min",
			flags: map[string]string{"short": "short", "unassigned": "client not assigned",
				"low_evidence": "little evidence", "open": "in progress", "disputed": "disputed"},
			dateFmt: "yyyy-mm-dd", timeFmt: "hh:mm", dateTimeFmt: "yyyy-mm-dd hh:mm", chartDayFmt: "mm-dd",
			goDate:      "2006-01-02",
			csvComma:    ',',
			mailSubject: "Visits report",
			mailBody:    "The visits report for %s, %s, is attached.\n\nThis e-mail was sent by carevisit on a schedule.\n",
		}
	}
	return labels{
		lang:       "ru",
		sheetCover: "Обложка", sheetSummary: "Сводка", sheetVisits: "Визиты", sheetCharts: "Графики",
		title:     "Отчёт о посещениях клиентов",
		coverKeys: [7]string{"Организация", "Период", "Часовой пояс", "Охват", "Сформирован", "Визитов", "Язык"},
		wholeOrg:  "Вся организация", group: "Группа", worker: "Сотрудник", noWorker: "(без сотрудника)",
		myGroups: "Группы руководителя",
		total:    "Итого",
		summaryHead: []string{"Сотрудник", "Группа", "Визиты", "Часы у клиентов", "Средняя длительность",
			"Короткие визиты", "Пропущенные плановые", "Оспоренные"},
		visitsHead: []string{"Дата", "Клиент", "Адрес", "Сотрудник", "Группа", "Прибытие", "Уход", "Длительность",
			"Услуги", "Отметки", "Корректировки"},
		chartVisitsPerDay: "Визиты по дням", chartHoursPerWorker: "Часы у клиентов по сотрудникам",
		chartDurations: "Распределение длительности визитов",
		dayHead:        "День", countHead: "Визиты", hoursHead: "Часы", bucketHead: "Длительность, мин",
		workerHead:     "Сотрудник",
		topWorkersNote: "сотрудников с наибольшим числом часов",
		minutes:        "мин",
		flags: map[string]string{"short": "короткий", "unassigned": "клиент не закреплён",
			"low_evidence": "мало данных", "open": "не завершён", "disputed": "оспорен"},
		dateFmt: "dd.mm.yyyy", timeFmt: "hh:mm", dateTimeFmt: "dd.mm.yyyy hh:mm", chartDayFmt: "dd.mm",
		goDate:      "02.01.2006",
		csvComma:    ';', // Excel with Russian regional settings splits CSV on semicolons
		mailSubject: "Отчёт о посещениях",
		mailBody:    "Во вложении отчёт о посещениях: %s, %s.\n\nПисьмо отправлено carevisit по расписанию.\n",
	}
}

func (t labels) date(d time.Time) string { return d.Format(t.goDate) }
