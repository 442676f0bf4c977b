package httpapi

import (
	"net/http"

	"github.com/cofferkms/coffer/internal/api"
)

func (s *Server) listSettings(w http.ResponseWriter, r *http.Request) error {
	list, err := poolFrom(r.Context()).ListSettings(r.Context(), callerFrom(r.Context()))
	if err != nil {
		return err
	}
	out := api.SettingsListResult{Settings: []api.Setting{}}
	for _, st := range list {
		out.Settings = append(out.Settings, api.Setting{Name: st.Name, Value: st.Value, Type: st.Type})
	}
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getSetting(w http.ResponseWriter, r *http.Request) error {
	st, err := poolFrom(r.Context()).GetSetting(r.Context(), callerFrom(r.Context()), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.Setting{Name: st.Name, Value: st.Value, Type: st.Type})
}

func (s *Server) updateSetting(w http.ResponseWriter, r *http.Request) error {
	var body api.UpdateSettingRequest
	if err := decodeBody(r, &body); err != nil {
		return err
	}
	if body.Value == nil {
		return badRequest("The setting value (value) is required.")
	}
	st, err := poolFrom(r.Context()).UpdateSetting(r.Context(), callerFrom(r.Context()), r.PathValue("name"), *body.Value)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, api.Setting{Name: st.Name, Value: st.Value, Type: st.Type})
}
